/* Where one TCP connection on a 5-tuple ends and the next begins: the loop of connections.py,
 * compiled, over the rules in _connections.h.  connections.py holds the same loop in Python,
 * the reference the tests compare this one with.
 *
 * Inputs are hostile only in their values (timestamps and sequence numbers from a capture):
 * group indices are checked before use. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_connections.h"

enum { TS, FLAGS, SEQ, SIDE, GROUP, PACKET_COLUMNS };  /* a packet row of split's */

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
