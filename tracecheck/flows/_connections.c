/* Where one TCP connection on a 5-tuple ends and the next begins: the loop of connections.py,
 * compiled.  connections.py says the rules (Zeek's) and holds the same loop in Python, the
 * reference the tests compare this one with.
 *
 * Inputs are hostile only in their values (timestamps and sequence numbers from a capture):
 * group indices are checked before use, and time differences are taken only when positive,
 * in unsigned arithmetic, so that no value wraps. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SECOND 1000000000LL
#define TCP_TIMEOUT_NS (300 * SECOND)
#define CLOSE_DELAY_NS (5 * SECOND)
#define ATTEMPT_DELAY_NS (5 * SECOND)
#define NONE (-1)
enum { FIN = 0x01, SYN = 0x02, RST = 0x04, ACK = 0x10 };
enum { TS, FLAGS, SEQ, SIDE, GROUP, PACKET_COLUMNS };
enum { OPEN, LAST_TS, ISN, CLOSE, CLOSED_TS, ATTEMPT_FROM, SYN_SIDE, SEEN, STATE_COLUMNS };
enum { FIN_0 = 1, FIN_1 = 2, RESET = 4 };
enum { SIDE_0 = 1, SIDE_1 = 2, NOT_SYNACK = 4 };

/* ts more than `by` after `then` (then unset: never). */
static inline int later(int64_t ts, int64_t then, int64_t by)
{
    return then != NONE && ts > then && (uint64_t)ts - (uint64_t)then > (uint64_t)by;
}

static int starts_anew(const int64_t *s, int64_t ts, int64_t flags, int64_t seq)
{
    if (!s[OPEN] || later(ts, s[LAST_TS], TCP_TIMEOUT_NS))
        return 1;
    if (later(ts, s[CLOSED_TS], CLOSE_DELAY_NS) || later(ts, s[ATTEMPT_FROM], ATTEMPT_DELAY_NS))
        return 1;
    if ((flags & (SYN | ACK)) != SYN)
        return 0;
    if (s[CLOSE])
        return 1;
    if (s[ISN] != NONE)
        return seq != s[ISN];
    return (s[SEEN] & NOT_SYNACK) != 0;
}

static void account(int64_t *s, int64_t ts, int64_t flags, int64_t seq, int64_t side)
{
    int64_t side_bit = side ? SIDE_1 : SIDE_0;
    if ((flags & (SYN | ACK)) == SYN && s[ISN] == NONE) {
        s[ISN] = seq;
        if (s[SEEN] == 0) {  /* the connection opens with this SYN: an attempt until answered */
            s[ATTEMPT_FROM] = ts;
            s[SYN_SIDE] = side;
        }
    }
    if (s[SYN_SIDE] != NONE && side != s[SYN_SIDE])
        s[ATTEMPT_FROM] = NONE;
    if ((flags & (SYN | ACK)) != (SYN | ACK))
        s[SEEN] |= NOT_SYNACK;
    s[SEEN] |= side_bit;
    if (flags & RST)
        s[CLOSE] |= RESET;
    if (flags & FIN)
        s[CLOSE] |= side ? FIN_1 : FIN_0;
    int64_t fins = s[CLOSE] & (FIN_0 | FIN_1);
    if (s[CLOSED_TS] == NONE
        && ((s[CLOSE] & RESET) || fins == (FIN_0 | FIN_1) || (fins && (s[SEEN] & (SIDE_0 | SIDE_1)) == fins)))
        s[CLOSED_TS] = ts;
    if (ts > s[LAST_TS])
        s[LAST_TS] = ts;
}

PyDoc_STRVAR(split_doc,
"split(packets, state, new_flow) -> None\n\n"
"packets: int64 rows (ts_ns, tcp flags, seq, side, group) in capture order within each group;\n"
"state: writable int64 rows, one per group, each key's open connection on entry and its last\n"
"on return; new_flow: one writable byte per packet, set to 1 where a new connection starts.");

static PyObject *split(PyObject *self, PyObject *args)
{
    Py_buffer packets, state, new_flow;
    if (!PyArg_ParseTuple(args, "y*w*w*", &packets, &state, &new_flow))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = packets.len / (8 * PACKET_COLUMNS), groups = state.len / (8 * STATE_COLUMNS);
    if (packets.len % (8 * PACKET_COLUMNS) || state.len % (8 * STATE_COLUMNS) || new_flow.len < n) {
        PyErr_SetString(PyExc_ValueError, "split: packets, state and new_flow do not fit together");
        goto done;
    }
    const int64_t *p = packets.buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t group;
        memcpy(&group, p + i * PACKET_COLUMNS + GROUP, 8);
        if (group < 0 || group >= groups) {
            PyErr_Format(PyExc_ValueError, "split: packet %zd names group %lld of %zd", i, (long long)group, groups);
            goto done;
        }
    }
    {
        int64_t *states = state.buf;
        unsigned char *out = new_flow.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t row[PACKET_COLUMNS];
            memcpy(row, p + i * PACKET_COLUMNS, sizeof row);
            int64_t *s = states + row[GROUP] * STATE_COLUMNS;
            int anew = starts_anew(s, row[TS], row[FLAGS], row[SEQ]);
            out[i] = (unsigned char)anew;
            if (anew) {
                const int64_t fresh[STATE_COLUMNS] = {1, row[TS], NONE, 0, NONE, NONE, NONE, 0};
                memcpy(s, fresh, sizeof fresh);
            }
            account(s, row[TS], row[FLAGS], row[SEQ], row[SIDE] != 0);
        }
        Py_END_ALLOW_THREADS
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&packets);
    PyBuffer_Release(&state);
    PyBuffer_Release(&new_flow);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS, split_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_connections",
                                    "Connections on a reused 5-tuple, split as Zeek does (see connections.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__connections(void)
{
    return PyModule_Create(&module);
}
