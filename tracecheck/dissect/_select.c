/* Which packets the dissectors look at, compiled (see session.py: Candidates and _early).
 *
 * Every packet of a capture passes through this choice, so in NumPy it was a dozen passes
 * over each batch's columns; here it is one loop.  session.py keeps the NumPy version as the
 * definition and the fallback, and the tests hold the two equal batch after batch.
 *
 * The columns come from the decoder, the per-flow state from session.py; every flow index is
 * checked against the state's length before it is used, and no output array is written past
 * the number of packets it was sized for.  The GIL is released while choosing. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_slices.h"

#define TCP 6
#define UDP 17
#define FIRST_PAYLOADS_TCP 4
#define FIRST_PAYLOADS_UDP 8
#define STUN_COOKIE 0x2112A442u
#define MUST 1 /* kinds: looked at whatever the flow's state */
#define DNS 2  /* on a DNS port */

/* The three first bytes SIP messages start with (session.py's SIP_STARTS). */
static const uint32_t sip_starts[] = {
    0x494E56, 0x524547, 0x41434B, 0x425945, 0x43414E, 0x4F5054, 0x534950, 0x4E4F54,
    0x535542, 0x494E46, 0x505241, 0x555044, 0x524546, 0x4D4553, 0x505542,
};

static inline int dns_port(int32_t port)
{
    return port == 53 || port == 5353 || port == 5355;
}

static inline int sip_like(uint32_t first3)
{
    /* Most payloads start with a byte no SIP start has (TLS, QUIC, RTP, DNS ids ...). */
    switch (first3 >> 16) {
    case 'A': case 'B': case 'C': case 'I': case 'M': case 'N': case 'O': case 'P': case 'R': case 'S': case 'U':
        break;
    default:
        return 0;
    }
    for (size_t i = 0; i < sizeof sip_starts / sizeof sip_starts[0]; i++)
        if (first3 == sip_starts[i])
            return 1;
    return 0;
}

/* The buffer holds exactly n items of this size, aligned for loads of that size. */
static int sized(Py_buffer *b, Py_ssize_t n, Py_ssize_t itemsize, const char *name)
{
    if (b->len != n * itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd items of %zd bytes", name, n, itemsize);
        return 0;
    }
    if (!aligned_for(b->buf, itemsize)) {
        PyErr_Format(PyExc_ValueError, "%s: an array not aligned for items of %zd bytes", name, itemsize);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(choose_doc,
"choose(proto, tcp_flags, payload_len, payload_head, sport, dport, flow_of, seen, finished,\n"
"       picks, kinds, syns) -> (picked, syn_count)\n\n"
"Note in picks (int64) the packets to look at and in kinds (uint8) whether each must be\n"
"(1) and is on a DNS port (2); in syns (int64) the client SYNs.  seen (int64, per flow) counts\n"
"the payload packets looked at so far and is updated; finished (uint8, per flow) is read.");

static PyObject *choose(PyObject *self, PyObject *args)
{
    Py_buffer b[12];
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*y*w*w*w*", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                          &b[6], &b[7], &b[8], &b[9], &b[10], &b[11]))
        return NULL;
    Py_ssize_t n = b[0].len / 2, flows = b[8].len, picked = 0, syn_count = 0;
    PyObject *result = NULL;
    if (!sized(&b[0], n, 2, "proto") || !sized(&b[1], n, 2, "tcp_flags") || !sized(&b[2], n, 8, "payload_len")
        || !sized(&b[3], n, 8, "payload_head") || !sized(&b[4], n, 4, "sport") || !sized(&b[5], n, 4, "dport")
        || !sized(&b[6], n, 8, "flow_of") || !sized(&b[7], flows, 8, "seen") || !sized(&b[9], n, 8, "picks")
        || !sized(&b[10], n, 1, "kinds") || !sized(&b[11], n, 8, "syns"))
        goto done;
    const int16_t *proto = b[0].buf, *tcp_flags = b[1].buf;
    const int64_t *size = b[2].buf, *flow_of = b[6].buf;
    const uint64_t *head = b[3].buf;
    const int32_t *sport = b[4].buf, *dport = b[5].buf;
    int64_t *seen = b[7].buf, *picks = b[9].buf, *syns = b[11].buf;
    const uint8_t *finished = b[8].buf;
    uint8_t *kinds = b[10].buf;
    int bad_flow = 0;

    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int tcp = proto[i] == TCP;
        if (tcp && (tcp_flags[i] & 0x12) == 0x02)
            syns[syn_count++] = i;
        if ((!tcp && proto[i] != UDP) || size[i] <= 0)
            continue;
        int64_t flow = flow_of[i];
        if (flow < 0 || flow >= flows) {
            bad_flow = 1;
            break;
        }
        uint64_t head8 = head[i]; /* the payload's first eight bytes, zero past its end */
        uint32_t head4 = (uint32_t)(head8 >> 32);
        int on_dns_port = dns_port(sport[i]) || dns_port(dport[i]);
        int must = on_dns_port || (size[i] >= 8 && sip_like(head4 >> 8))
                   || (size[i] >= 20 && (uint32_t)head8 == STUN_COOKIE);
        /* A first payload of a flow not yet recognised (the count goes on whatever the bytes). */
        int early = 0;
        if (!finished[flow] && seen[flow] < (tcp ? FIRST_PAYLOADS_TCP : FIRST_PAYLOADS_UDP)) {
            seen[flow]++;
            early = 1;
        }
        /* TLS records that cannot be a ClientHello name nothing (see Candidates). */
        uint32_t first = head4 >> 24, handshake_type = (uint32_t)(head8 >> 16) & 0xFF;
        int tls_record = tcp && ((head4 >> 16) & 0xFF) == 3 && ((head4 >> 8) & 0xFF) <= 4;
        if (tls_record && (first == 23 || first == 20 || first == 21 || (first == 22 && handshake_type != 1)))
            early = 0;
        /* A record that starts like a ClientHello, however late, in a flow not yet recognised:
         * STARTTLS upgrades after an exchange of any length (not counted in seen). */
        int late_hello = tls_record && first == 22 && handshake_type == 1 && !finished[flow];
        if (early || must || late_hello) {
            picks[picked] = i;
            kinds[picked] = (uint8_t)((must ? MUST : 0) | (on_dns_port ? DNS : 0));
            picked++;
        }
    }
    Py_END_ALLOW_THREADS

    if (bad_flow)
        PyErr_SetString(PyExc_ValueError, "a flow index outside the per-flow state");
    else
        result = Py_BuildValue("nn", picked, syn_count);
done:
    for (int k = 0; k < 12; k++)
        PyBuffer_Release(&b[k]);
    return result;
}

PyDoc_STRVAR(join_slices_doc,
"join_slices(data, starts, ends) -> bytes\n\n"
"data[starts[0]:ends[0]] + data[starts[1]:ends[1]] + ... (starts and ends int64, each slice\n"
"inside data): the picked payloads in one string, copied once.");

static PyObject *join_slices(PyObject *self, PyObject *args)
{
    Py_buffer data, b_starts, b_ends;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &b_starts, &b_ends))
        return NULL;
    PyObject *result = NULL;
    const int64_t *starts = b_starts.buf, *ends = b_ends.buf;
    Py_ssize_t n = slices_inside("join_slices", &data, &b_starts, &b_ends), total = 0;
    if (n < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* Each slice is inside data, but slices may overlap: their total can pass any size. */
        if (ends[i] - starts[i] > PY_SSIZE_T_MAX - total) {
            PyErr_SetString(PyExc_ValueError, "join_slices: the slices add up to more than a bytes object holds");
            goto done;
        }
        total += ends[i] - starts[i];
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result != NULL) {
        char *out = PyBytes_AS_STRING(result);
        const char *in = data.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            memcpy(out, in + starts[i], (size_t)(ends[i] - starts[i]));
            out += ends[i] - starts[i];
        }
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&b_starts);
    PyBuffer_Release(&b_ends);
    return result;
}

static PyMethodDef methods[] = {
    {"choose", choose, METH_VARARGS, choose_doc},
    {"join_slices", join_slices, METH_VARARGS, join_slices_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_select", "The dissectors' packet choice, compiled (see session.py).", -1, methods};

PyMODINIT_FUNC PyInit__select(void)
{
    return PyModule_Create(&module);
}
