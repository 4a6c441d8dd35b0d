/* What a ClientHello says about where the client is going, compiled (see tls.py).
 *
 * Every TLS flow and every QUIC flow is named by its ClientHello, so this parse runs once
 * per flow: tens of thousands of times for a busy capture.  It reads only what naming needs
 * (legacy_version, the first server_name, whether ECH or ESNI is offered, whether ALPN offers
 * DNS over TLS), exactly as
 * tls.py does with details=False; tls.py stays the definition and the tests hold the two
 * equal on hostile input.
 *
 * Captures are hostile input: every length is checked against the end of the buffer it
 * claims to be in before anything is read, every loop is bounded, and a hello spread over
 * several records is copied into a buffer of bounded size. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_slices.h"

#define CONTENT_HANDSHAKE 22
#define CLIENT_HELLO 1
#define MAX_RECORD_LEN (16384 + 2048)
#define MAX_HELLO_LEN (64 * 1024)
#define MAX_NAME_LEN 255
#define MAX_EXTENSIONS (4 * 64)
#define MAX_LIST_ITEMS 64
#define EXT_SERVER_NAME 0x0000
#define EXT_ALPN 0x0010
#define EXT_ENCRYPTED_CLIENT_HELLO 0xFE0D
#define EXT_ENCRYPTED_SERVER_NAME 0xFFCE

/* What the parse says; the Python side maps these to None and NEED_MORE. */
enum { NOT_A_HELLO = 0, NEED_MORE = 1, HELLO = 2 };

typedef struct {
    int legacy_version;
    const unsigned char *sni; /* the host_name's bytes as sent, or NULL */
    Py_ssize_t sni_len;
    int ech;
    int dot; /* ALPN offers "dot" (DNS over TLS) */
} naming;

static inline Py_ssize_t u16(const unsigned char *p)
{
    return ((Py_ssize_t)p[0] << 8) | p[1];
}

/* The vector at pos (a 1- or 2-byte length, then that many bytes): where its content starts
 * and stops.  0 when it runs past end. */
static int vector(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, int len_bytes,
                  Py_ssize_t *start, Py_ssize_t *stop)
{
    if (pos + len_bytes > end)
        return 0;
    Py_ssize_t size = len_bytes == 1 ? b[pos] : u16(b + pos);
    if (pos + len_bytes + size > end)
        return 0;
    *start = pos + len_bytes;
    *stop = *start + size;
    return 1;
}

/* The name's length once its trailing dots are stripped (an escaped byte never ends in one). */
static Py_ssize_t stripped_length(const unsigned char *name, Py_ssize_t len)
{
    while (len > 0 && name[len - 1] == '.')
        len--;
    return len;
}

/* server_name: the first host_name entry of a sane length, if the list holds one. */
static void server_name(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end, naming *out)
{
    Py_ssize_t start, stop;
    if (!vector(b, pos, end, 2, &pos, &end))
        return;
    while (end - pos >= 3) {
        int name_type = b[pos];
        if (!vector(b, pos + 1, end, 2, &start, &stop))
            return;
        pos = stop;
        if (name_type == 0 && stop - start > 0 && stop - start <= MAX_NAME_LEN) {
            Py_ssize_t kept = stripped_length(b + start, stop - start);
            if (kept) { /* all dots names nothing: a later server_name extension may */
                out->sni = b + start;
                out->sni_len = kept;
            }
            return;
        }
    }
}

/* ALPN's protocol_name_list: 1 if it offers "dot", 0 if not, -1 if a name runs past the list
 * (which spoils the whole list, as in tls.py).  At most MAX_LIST_ITEMS names are read. */
static int offers_dot(const unsigned char *b, Py_ssize_t pos, Py_ssize_t end)
{
    Py_ssize_t start, stop;
    int found = 0;
    if (!vector(b, pos, end, 2, &pos, &end))
        return -1;
    for (int items = 0; pos < end && items < MAX_LIST_ITEMS; items++) {
        if (!vector(b, pos, end, 1, &start, &stop))
            return -1;
        if (stop - start == 3 && memcmp(b + start, "dot", 3) == 0)
            found = 1;
        pos = stop;
    }
    return found;
}

/* The ClientHello body (after the 4-byte handshake header).  A broken extension ends the
 * walk but keeps what was read before it, as in tls.py. */
static int client_hello_body(const unsigned char *b, Py_ssize_t end, naming *out)
{
    Py_ssize_t start, pos;
    if (end < 34)
        return NOT_A_HELLO;
    out->legacy_version = (int)u16(b);
    if (!vector(b, 34, end, 1, &start, &pos)       /* legacy_session_id, after the random */
        || !vector(b, pos, end, 2, &start, &pos)   /* cipher_suites */
        || !vector(b, pos, end, 1, &start, &pos))  /* legacy_compression_methods */
        return NOT_A_HELLO;
    if (end - pos < 2)
        return HELLO;
    Py_ssize_t stop = pos + 2 + u16(b + pos);
    if (stop > end)
        stop = end; /* a block cut short keeps what is there */
    pos += 2;
    for (int walked = 0; pos + 4 <= stop && walked < MAX_EXTENSIONS; walked++) {
        int type = (int)u16(b + pos);
        Py_ssize_t size = u16(b + pos + 2);
        pos += 4;
        if (pos + size > stop)
            break;
        if (type == EXT_SERVER_NAME && out->sni == NULL)
            server_name(b, pos, pos + size, out);
        else if (type == EXT_ALPN && !out->dot)
            out->dot = offers_dot(b, pos, pos + size) == 1;
        else if (type == EXT_ENCRYPTED_CLIENT_HELLO || type == EXT_ENCRYPTED_SERVER_NAME)
            out->ech = 1;
        pos += size;
    }
    return HELLO;
}

/* A bare handshake message (type, 24-bit length, body), as QUIC's CRYPTO stream has it. */
static int client_hello_message(const unsigned char *m, Py_ssize_t len, naming *out)
{
    if (len == 0)
        return NEED_MORE;
    if (m[0] != CLIENT_HELLO)
        return NOT_A_HELLO;
    if (len < 4)
        return NEED_MORE;
    Py_ssize_t total = 4 + (((Py_ssize_t)m[1] << 16) | ((Py_ssize_t)m[2] << 8) | m[3]);
    if (total > MAX_HELLO_LEN)
        return NOT_A_HELLO;
    if (len < total)
        return NEED_MORE;
    return client_hello_body(m + 4, total - 4, out);
}

/* A record header cut short: is what is there consistent with a handshake record? */
static int header_prefix(const unsigned char *head, Py_ssize_t len)
{
    if (len >= 1 && head[0] != CONTENT_HANDSHAKE)
        return NOT_A_HELLO;
    if (len >= 2 && head[1] != 3)
        return NOT_A_HELLO;
    return NEED_MORE;
}

/* The ClientHello at the start of a TLS record stream.  Most hellos are whole in the first
 * record and are read in place; others are gathered into `gathered` (freed by the caller). */
static int client_hello_records(const unsigned char *d, Py_ssize_t len, naming *out,
                                unsigned char **gathered)
{
    if (len == 0)
        return NEED_MORE;
    if (d[0] != CONTENT_HANDSHAKE || (len >= 2 && d[1] != 3))
        return NOT_A_HELLO;
    Py_ssize_t pos = 0, have = 0;
    for (;;) {
        if (len - pos < 5)
            return header_prefix(d + pos, len - pos);
        Py_ssize_t length = u16(d + pos + 3);
        if (d[pos] != CONTENT_HANDSHAKE || d[pos + 1] != 3 || length > MAX_RECORD_LEN)
            return NOT_A_HELLO;
        Py_ssize_t fragment = len - pos - 5 < length ? len - pos - 5 : length;
        if (have == 0 && fragment >= 4) {
            /* The first record holds the handshake header: the whole hello may be here. */
            const unsigned char *m = d + pos + 5;
            if (m[0] != CLIENT_HELLO)
                return NOT_A_HELLO;
            Py_ssize_t total = 4 + (((Py_ssize_t)m[1] << 16) | ((Py_ssize_t)m[2] << 8) | m[3]);
            if (total > MAX_HELLO_LEN)
                return NOT_A_HELLO;
            if (fragment >= total)
                return client_hello_body(m + 4, total - 4, out);
        }
        if (fragment > 0) {
            if (*gathered == NULL && (*gathered = PyMem_Malloc(MAX_HELLO_LEN + MAX_RECORD_LEN)) == NULL)
                return -1;
            memcpy(*gathered + have, d + pos + 5, (size_t)fragment);
            have += fragment;
            unsigned char *m = *gathered;
            if (m[0] != CLIENT_HELLO)
                return NOT_A_HELLO;
            if (have >= 4) {
                Py_ssize_t total = 4 + (((Py_ssize_t)m[1] << 16) | ((Py_ssize_t)m[2] << 8) | m[3]);
                if (total > MAX_HELLO_LEN)
                    return NOT_A_HELLO;
                if (have >= total)
                    return client_hello_body(m + 4, total - 4, out);
            }
        }
        if (length > len - pos - 5)
            return NEED_MORE;
        pos += 5 + length;
    }
}

/* The host name as tls.py writes it: ASCII lower-cased, other bytes escaped as \xNN. */
static PyObject *name_text(const unsigned char *name, Py_ssize_t len)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < len; i++)
        size += name[i] < 0x80 ? 1 : 4;
    PyObject *text = PyUnicode_New(size, 127);
    if (text == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = name[i];
        if (c >= 0x80) {
            *out++ = '\\';
            *out++ = 'x';
            *out++ = hex[c >> 4];
            *out++ = hex[c & 15];
        } else {
            *out++ = (c >= 'A' && c <= 'Z') ? c + 32 : c;
        }
    }
    return text;
}

PyDoc_STRVAR(client_hello_naming_doc,
"client_hello_naming(data, records) -> 0 | 1 | (legacy_version, sni, ech, dot)\n\n"
"Read the ClientHello at the start of data: a TLS record stream when records is true, else a\n"
"bare handshake message.  0: not a ClientHello; 1: a valid but incomplete beginning.");

/* The naming of the hello at the start of d (see client_hello_naming_doc); NULL on error. */
static PyObject *naming_of(const unsigned char *d, Py_ssize_t len, int records)
{
    naming found = {0, NULL, 0, 0, 0};
    unsigned char *gathered = NULL;
    int status = records ? client_hello_records(d, len, &found, &gathered) : client_hello_message(d, len, &found);
    PyObject *result = NULL;
    if (status == HELLO) {
        PyObject *sni = found.sni ? name_text(found.sni, found.sni_len) : PyUnicode_New(0, 127);
        if (sni != NULL)
            result = Py_BuildValue("iNOO", found.legacy_version, sni, found.ech ? Py_True : Py_False,
                                   found.dot ? Py_True : Py_False);
    } else if (status >= 0) {
        result = PyLong_FromLong(status);
    } else {
        PyErr_NoMemory();
    }
    PyMem_Free(gathered); /* after the name is copied: it may point into this buffer */
    return result;
}

static PyObject *client_hello_naming(PyObject *self, PyObject *args)
{
    Py_buffer data;
    int records;
    if (!PyArg_ParseTuple(args, "y*p", &data, &records))
        return NULL;
    PyObject *result = naming_of(data.buf, data.len, records);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(client_hello_namings_doc,
"client_hello_namings(data, starts, ends) -> list\n\n"
"client_hello_naming(data[starts[i]:ends[i]], True) for every i (starts and ends int64, each\n"
"slice inside data): a batch's hellos in one call.");

static PyObject *client_hello_namings(PyObject *self, PyObject *args)
{
    Py_buffer data, b_starts, b_ends;
    if (!PyArg_ParseTuple(args, "y*y*y*", &data, &b_starts, &b_ends))
        return NULL;
    PyObject *results = NULL;
    const int64_t *starts = b_starts.buf, *ends = b_ends.buf;
    Py_ssize_t n = slices_inside("client_hello_namings", &data, &b_starts, &b_ends);
    if (n < 0)
        goto done;
    results = PyList_New(n);
    for (Py_ssize_t i = 0; results != NULL && i < n; i++) {
        PyObject *one = naming_of((const unsigned char *)data.buf + starts[i], ends[i] - starts[i], 1);
        if (one == NULL)
            Py_CLEAR(results);
        else
            PyList_SET_ITEM(results, i, one);
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&b_starts);
    PyBuffer_Release(&b_ends);
    return results;
}

static PyMethodDef methods[] = {
    {"client_hello_naming", client_hello_naming, METH_VARARGS, client_hello_naming_doc},
    {"client_hello_namings", client_hello_namings, METH_VARARGS, client_hello_namings_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tls", "ClientHello naming, compiled (see tls.py).", -1, methods};

PyMODINIT_FUNC PyInit__tls(void)
{
    return PyModule_Create(&module);
}
