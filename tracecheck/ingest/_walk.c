/* The record walk, compiled: the one per-record loop of the readers (see walk.py).
 *
 * Records in pcap and pcapng are variable-length and each header says where the next one
 * starts, so finding them is inherently one record after another.  Everything after the
 * walk is vectorized; this loop only notes where records start.  walk.py holds the same
 * two functions in Python, used when this module could not be built and as the reference
 * the tests compare it with.
 *
 * Captures are hostile input: every read is checked against the block's length before it
 * is made, lengths are compared without overflow, and the caller's output array is never
 * written past its end.  The GIL is released while walking, so the reader thread overlaps
 * the flow stage. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t load_u32(const unsigned char *p, int little)
{
    if (little)
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* The output array must be writable, contiguous int64 storage; *rows is how many rows of
 * `columns` values it holds. */
static int check_out(Py_buffer *out, Py_ssize_t columns, Py_ssize_t *rows)
{
    if (out->len % 8) {
        PyErr_SetString(PyExc_ValueError, "records must be int64 storage");
        return 0;
    }
    *rows = out->len / 8 / columns;
    return 1;
}

/* Release both buffers and fail with ValueError(why), unless an error is set already. */
static PyObject *refuse(Py_buffer *block, Py_buffer *out, const char *why)
{
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, why);
    PyBuffer_Release(block);
    PyBuffer_Release(out);
    return NULL;
}

PyDoc_STRVAR(pcap_records_doc,
"pcap_records(block, records, pos, header_size, little, max_frame) -> (count, pos, caplen)\n\n"
"Note in records (int64 rows of offset, ts_sec, ts_frac, caplen, wirelen) the whole records\n"
"from pos on; stop at the first record that is cut by the block's end or claims more than\n"
"max_frame bytes.  Returns how many were noted, where the walk stopped and the caplen read\n"
"there (0 if none).");

#define WALK_AHEAD 4096  /* bytes: a few frames ahead */
#define PCAP_COLUMNS 5  /* offset, ts_sec, ts_frac, caplen, wirelen */

static PyObject *pcap_records(PyObject *self, PyObject *args)
{
    Py_buffer block, out;
    Py_ssize_t pos, header;
    int little;
    unsigned long long max_frame;
    if (!PyArg_ParseTuple(args, "y*w*nnpK", &block, &out, &pos, &header, &little, &max_frame))
        return NULL;
    Py_ssize_t capacity, count = 0;
    uint32_t caplen = 0;
    if (!check_out(&out, PCAP_COLUMNS, &capacity) || header < 16 || pos < 0)
        return refuse(&block, &out, "header_size must be >= 16 and pos >= 0");
    const unsigned char *data = block.buf;
    unsigned char *rows = out.buf;
    Py_ssize_t length = block.len;
    Py_BEGIN_ALLOW_THREADS
    while (pos <= length - header && count < capacity) {
        const unsigned char *at = data + pos;
        /* The next header's address is known only once this one is read, so a walk waits
         * on memory at every record; pulling in the bytes a little ahead (frames are a few
         * hundred bytes) lets those fetches overlap.  A hint: never a fault. */
        if (pos + WALK_AHEAD < length)
            __builtin_prefetch(at + WALK_AHEAD);
        caplen = load_u32(at + 8, little);
        if (caplen > max_frame || (uint64_t)caplen > (uint64_t)(length - pos - header))
            break;
        int64_t row[PCAP_COLUMNS] = {pos, load_u32(at, little), load_u32(at + 4, little), caplen, load_u32(at + 12, little)};
        memcpy(rows + sizeof row * count, row, sizeof row);
        count++;
        pos += header + (Py_ssize_t)caplen;
        caplen = 0;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    PyBuffer_Release(&out);
    return Py_BuildValue("nnk", count, pos, (unsigned long)caplen);
}

PyDoc_STRVAR(pcapng_packets_doc,
"pcapng_packets(block, records, pos, little, min_length, max_block) -> (count, pos)\n\n"
"Note in records (int64 rows of offset, length, interface, ts_high, ts_low, caplen, wirelen) the\n"
"consecutive enhanced packet blocks from pos on; stop at the first block of another type,\n"
"of a length that is not a multiple of 4 or outside min_length..max_block, or cut by the\n"
"block's end (the caller deals with that one), or when records is full.");

#define PCAPNG_COLUMNS 7  /* offset, length, interface, ts_high, ts_low, caplen, wirelen */

static PyObject *pcapng_packets(PyObject *self, PyObject *args)
{
    Py_buffer block, out;
    Py_ssize_t pos;
    int little;
    unsigned long min_length, max_block;
    if (!PyArg_ParseTuple(args, "y*w*npkk", &block, &out, &pos, &little, &min_length, &max_block))
        return NULL;
    Py_ssize_t capacity, count = 0;
    /* An enhanced packet block's fixed fields end at byte 28: shorter blocks are the caller's. */
    if (!check_out(&out, PCAPNG_COLUMNS, &capacity) || pos < 0 || min_length < 28)
        return refuse(&block, &out, "min_length must be >= 28 and pos >= 0");
    const unsigned char *data = block.buf;
    unsigned char *rows = out.buf;
    Py_ssize_t length = block.len;
    Py_BEGIN_ALLOW_THREADS
    while (pos <= length - 12 && count < capacity) {
        const unsigned char *at = data + pos;
        if (pos + WALK_AHEAD < length)
            __builtin_prefetch(at + WALK_AHEAD);
        uint32_t type = load_u32(at, little);
        uint32_t size = load_u32(at + 4, little);
        if (type != 6 || size % 4 || size < min_length || size > max_block || (uint64_t)size > (uint64_t)(length - pos))
            break;
        int64_t row[PCAPNG_COLUMNS] = {pos, size, load_u32(at + 8, little), load_u32(at + 12, little),
                                       load_u32(at + 16, little), load_u32(at + 20, little), load_u32(at + 24, little)};
        memcpy(rows + sizeof row * count, row, sizeof row);
        count++;
        pos += (Py_ssize_t)size;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&block);
    PyBuffer_Release(&out);
    return Py_BuildValue("nn", count, pos);
}

static PyMethodDef methods[] = {
    {"pcap_records", pcap_records, METH_VARARGS, pcap_records_doc},
    {"pcapng_packets", pcapng_packets, METH_VARARGS, pcapng_packets_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_walk", "The record walk, compiled (see walk.py).", -1, methods};

PyMODINIT_FUNC PyInit__walk(void)
{
    return PyModule_Create(&module);
}
