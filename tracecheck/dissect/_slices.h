/* Slices of one buffer, named by int64 start and end arrays: what a batch's payloads are to
 * the compiled parts that take them all at once (_select.c's join_slices, _tls.c's
 * client_hello_namings).  The offsets come from NumPy, so they are checked here, in one place,
 * before any byte is read. */

#ifndef TRACECHECK_SLICES_H
#define TRACECHECK_SLICES_H

#include <Python.h>
#include <stdint.h>

/* Whether buf can be read as an array of itemsize-byte numbers: a misaligned load is undefined
 * behaviour in C (and a fault on some machines), so such arrays are refused. */
static inline int aligned_for(const void *buf, Py_ssize_t itemsize)
{
    return itemsize <= 1 || (uintptr_t)buf % (uintptr_t)itemsize == 0;
}

/* The number of slices, or -1 with ValueError set when starts and ends are not aligned int64
 * arrays of one length or a slice does not lie inside data. */
static Py_ssize_t slices_inside(const char *who, const Py_buffer *data, const Py_buffer *starts,
                                const Py_buffer *ends)
{
    if (starts->len % 8 || ends->len != starts->len || !aligned_for(starts->buf, 8) || !aligned_for(ends->buf, 8)) {
        PyErr_Format(PyExc_ValueError, "%s: starts and ends must be aligned int64 arrays of one length", who);
        return -1;
    }
    Py_ssize_t n = starts->len / 8;
    const int64_t *start = starts->buf, *end = ends->buf;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (start[i] < 0 || end[i] < start[i] || end[i] > data->len) {
            PyErr_Format(PyExc_ValueError, "%s: a slice outside the data", who);
            return -1;
        }
    }
    return n;
}

#endif
