/* DNS messages, compiled: the wire-level parse of every DNS response in a capture (see dns.py).
 *
 * dns.py holds the same parse in Python (_parse_fields_py), used when this module could not
 * be built and as the reference the tests compare it with: same values, same strings byte for
 * byte, same None and complete=False cases.  Both return plain tuples; dns.py makes them
 * DnsMessage, DnsQuestion and DnsRecord.
 *
 * Captures are hostile input: every length is checked against the message's end before the
 * bytes it covers are read, lengths are compared without overflow, every loop is bounded
 * (records by MAX_RECORDS, labels by MAX_NAME_OCTETS, compression pointers by
 * MAX_POINTER_JUMPS, so a pointer loop ends), and bad bytes give None or complete=False,
 * never an exception.  Unlike the record walk it keeps the GIL: it makes Python objects as it
 * reads, and a message is a few hundred bytes. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* The limits and types of dns.py. */
#define MAX_RECORDS 1024
#define MAX_POINTER_JUMPS 32
#define MAX_NAME_OCTETS 255
#define TYPE_A 1
#define TYPE_CNAME 5
#define TYPE_PTR 12
#define TYPE_AAAA 28
#define CLASS_IN 1

/* Each label takes its length octet and at least one byte, and the root octet counts too. */
#define MAX_LABELS ((MAX_NAME_OCTETS - 1) / 2)
/* The escaped text of the longest name: at most 4 characters a byte, and the dots. */
#define MAX_NAME_TEXT (4 * MAX_NAME_OCTETS)

static inline uint32_t be16(const unsigned char *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* A name's labels, copied out of the message (pointers followed). */
typedef struct {
    unsigned char bytes[MAX_NAME_OCTETS];  /* the labels back to back, no separators */
    unsigned char lengths[MAX_LABELS];
    int count;
    int plain;  /* every byte printable ASCII other than space, '.' and '\\': the text is the bytes */
    Py_ssize_t first;  /* where the first label lies (-1 for the root): see Names */
} Name;

/* The name at offset: 1 with the offset just after it in place in *end, or 0 if malformed
 * (cut short, a label type other than 0 and 0xC0, too long, too many pointers).  Mirrors
 * _read_name; the order of its checks only decides which of them fails. */
static int read_name(const unsigned char *data, Py_ssize_t size, Py_ssize_t offset, Name *name, Py_ssize_t *end)
{
    Py_ssize_t octets = 1, copied = 0;
    int jumps = 0;
    *end = -1;
    name->count = 0;
    name->plain = 1;
    name->first = -1;
    for (;;) {
        if (offset >= size)
            return 0;
        unsigned length = data[offset];
        if (length == 0) {
            if (*end < 0)
                *end = offset + 1;
            return 1;
        }
        if (length >= 0xC0) {
            if (offset + 1 >= size || ++jumps > MAX_POINTER_JUMPS)
                return 0;
            if (*end < 0)
                *end = offset + 2;
            offset = ((Py_ssize_t)(length & 0x3F) << 8) | data[offset + 1];
            continue;
        }
        if (length > 63)
            return 0;  /* 0x40/0x80 label types were never deployed */
        octets += length + 1;
        if (octets > MAX_NAME_OCTETS || length > size - offset - 1)
            return 0;
        /* octets bounds both: the labels fit name->bytes and there are at most MAX_LABELS */
        if (name->count == 0)
            name->first = offset;
        const unsigned char *label = data + offset + 1;
        for (unsigned i = 0; i < length; i++) {
            unsigned char c = label[i];
            if (c <= 0x20 || c > 0x7E || c == '.' || c == '\\')  /* a space too: \032 */
                name->plain = 0;
            name->bytes[copied + i] = c;
        }
        name->lengths[name->count++] = (unsigned char)length;
        copied += length;
        offset += 1 + length;
    }
}

/* A str of n ASCII characters (everything here writes only those). */
static PyObject *ascii_text(const char *text, Py_ssize_t n)
{
    PyObject *str = PyUnicode_New(n, 127);
    if (str != NULL)
        memcpy(PyUnicode_1BYTE_DATA(str), text, n);
    return str;
}

static inline char lower(unsigned char c) { return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c); }

/* The name's text as name_text writes it: lower-case labels joined by dots, or, when a byte
 * is not plain, every label escaped like dig does (\. \\ and \DDD for the unprintable). */
static PyObject *name_text(const Name *name)
{
    char text[MAX_NAME_TEXT];
    Py_ssize_t n = 0;
    const unsigned char *byte = name->bytes;
    for (int label = 0; label < name->count; label++) {
        if (label)
            text[n++] = '.';
        for (unsigned i = 0; i < name->lengths[label]; i++, byte++) {
            unsigned char c = *byte;
            if (name->plain) {
                text[n++] = lower(c);
            } else if (c == '.' || c == '\\') {
                text[n++] = '\\';
                text[n++] = (char)c;
            } else if (c >= 0x21 && c < 0x7F) {
                text[n++] = lower(c);
            } else {
                text[n++] = '\\';
                text[n++] = (char)('0' + c / 100);
                text[n++] = (char)('0' + c / 10 % 10);
                text[n++] = (char)('0' + c % 10);
            }
        }
    }
    return ascii_text(text, n);
}

static char *decimal(char *out, unsigned value)
{
    if (value >= 100)
        *out++ = (char)('0' + value / 100);
    if (value >= 10)
        *out++ = (char)('0' + value / 10 % 10);
    *out++ = (char)('0' + value % 10);
    return out;
}

/* Dotted quad, as _wire.ipv4_text. */
static PyObject *ipv4_text(const unsigned char *p)
{
    char text[16], *at = text;
    for (int i = 0; i < 4; i++) {
        if (i)
            *at++ = '.';
        at = decimal(at, p[i]);
    }
    return ascii_text(text, at - text);
}

/* RFC 5952 text, as _wire.ipv6_text (that is, as ipaddress writes it): lower-case hex groups
 * without leading zeros, the first longest run of two or more zero groups as "::". */
static PyObject *ipv6_text(const unsigned char *p)
{
    static const char hex[] = "0123456789abcdef";
    char text[48], *at = text;
    uint32_t group[8];
    for (int i = 0; i < 8; i++)
        group[i] = be16(p + 2 * i);
#if PY_VERSION_HEX >= 0x030D0000
    /* Since Python 3.13 ipaddress writes IPv4-mapped addresses with a dotted tail (gh-87799). */
    if (!group[0] && !group[1] && !group[2] && !group[3] && !group[4] && group[5] == 0xFFFF) {
        memcpy(at, "::ffff:", 7);
        at += 7;
        for (int i = 12; i < 16; i++) {
            if (i > 12)
                *at++ = '.';
            at = decimal(at, p[i]);
        }
        return ascii_text(text, at - text);
    }
#endif
    int best = -1, best_len = 1;  /* a single zero group stays "0" */
    for (int i = 0; i < 8;) {
        int run = 0;
        while (i + run < 8 && !group[i + run])
            run++;
        if (run > best_len) {
            best = i;
            best_len = run;
        }
        i += run ? run : 1;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *at++ = ':';
            *at++ = ':';
            i += best_len - 1;
            continue;
        }
        if (i && i != best + best_len)
            *at++ = ':';
        uint32_t g = group[i];
        int shift = g >= 0x1000 ? 12 : g >= 0x100 ? 8 : g >= 0x10 ? 4 : 0;
        for (; shift >= 0; shift -= 4)
            *at++ = hex[(g >> shift) & 0xF];
    }
    return ascii_text(text, at - text);
}

/* The names of one message already made text, by where their first label lies: from there a
 * name reads the same labels however it was reached (only whether it fails depends on the
 * pointers before), and compression makes most owners a pointer to an earlier name.  Sharing
 * the str also spares the caller hashing it again. */
#define CACHED_NAMES 8
typedef struct {
    Py_ssize_t first[CACHED_NAMES];
    PyObject *text[CACHED_NAMES];
    int count;
} Names;

static PyObject *name_object(Names *names, const Name *name)
{
    for (int i = 0; i < names->count; i++)
        if (names->first[i] == name->first)
            return Py_NewRef(names->text[i]);
    PyObject *text = name_text(name);
    if (text != NULL && names->count < CACHED_NAMES) {
        names->first[names->count] = name->first;
        names->text[names->count++] = Py_NewRef(text);
    }
    return text;
}

/* A tuple of n new references, or NULL (the references dropped) if one is NULL or on error. */
static PyObject *tuple_taking(Py_ssize_t n, PyObject **values)
{
    PyObject *tuple = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (values[i] == NULL)
            goto fail;
    if ((tuple = PyTuple_New(n)) == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(tuple, i, values[i]);
    return tuple;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(values[i]);
    return NULL;
}

/* A tuple of n borrowed references. */
static PyObject *tuple_of(Py_ssize_t n, PyObject **items)
{
    PyObject *tuple = PyTuple_New(n);
    for (Py_ssize_t i = 0; tuple != NULL && i < n; i++)
        PyTuple_SET_ITEM(tuple, i, Py_NewRef(items[i]));
    return tuple;
}

/* One resource record at *offset, as _read_record: 1 with *offset moved past it and *record
 * the (name, rtype, ttl, value) tuple if it is kept, else NULL; 0 if malformed; -1 on a
 * Python error (out of memory). */
static int read_record(const unsigned char *data, Py_ssize_t size, Py_ssize_t *offset, Names *names, PyObject **record)
{
    Name owner, target;
    Py_ssize_t at, end;
    *record = NULL;
    if (!read_name(data, size, *offset, &owner, &at) || size - at < 10)
        return 0;
    uint32_t rtype = be16(data + at);
    uint32_t rclass = be16(data + at + 2) & 0x7FFF;  /* mDNS cache-flush bit */
    uint32_t ttl = be32(data + at + 4);
    Py_ssize_t rdata = at + 10, rdlength = be16(data + at + 8);
    if (rdlength > size - rdata)
        return 0;
    *offset = rdata + rdlength;
    if (rclass != CLASS_IN)
        return 1;
    PyObject *value;
    if (rtype == TYPE_A) {
        if (rdlength != 4)
            return 1;
        value = ipv4_text(data + rdata);
    } else if (rtype == TYPE_AAAA) {
        if (rdlength != 16)
            return 1;
        value = ipv6_text(data + rdata);
    } else if (rtype == TYPE_CNAME || rtype == TYPE_PTR) {
        /* The target may point anywhere in the message, but must end inside the rdata. */
        if (!read_name(data, size, rdata, &target, &end) || end > *offset)
            return 1;
        value = name_object(names, &target);
    } else {
        return 1;
    }
    PyObject *fields[4] = {name_object(names, &owner), PyLong_FromUnsignedLong(rtype), PyLong_FromUnsignedLong(ttl), value};
    *record = tuple_taking(4, fields);
    return *record ? 1 : -1;
}

static PyObject *parse(const unsigned char *data, Py_ssize_t size)
{
    if (size < 12)
        Py_RETURN_NONE;
    uint32_t flags = be16(data + 2), opcode = (flags >> 11) & 0xF;
    if (opcode == 3 || opcode > 6)
        Py_RETURN_NONE;
    uint32_t qdcount = be16(data + 4), counts[2] = {be16(data + 6), be16(data + 8) + be16(data + 10)};
    /* The questions, then the kept records of each section: MAX_RECORDS at most in all. */
    PyObject *items[MAX_RECORDS], *result = NULL;
    Py_ssize_t ends[3] = {0, 0, 0}, n = 0, offset = 12, end;
    Names names = {.count = 0};
    Name name;
    int complete = 1;
    for (; n < qdcount && n < MAX_RECORDS; n++) {
        if (!read_name(data, size, offset, &name, &end) || end > size - 4) {
            if (n == 0) {
                result = Py_NewRef(Py_None);
                goto done;
            }
            complete = 0;
            break;
        }
        offset = end + 4;
        PyObject *fields[2] = {name_object(&names, &name), PyLong_FromUnsignedLong(be16(data + end))};
        if ((items[n] = tuple_taking(2, fields)) == NULL)
            goto done;
    }
    ends[0] = n;
    Py_ssize_t budget = MAX_RECORDS - n;
    for (int section = 0; section < 2; section++) {
        for (uint32_t i = 0; complete && i < counts[section]; i++) {
            PyObject *record;
            /* Past the budget the rest is dropped, as after a malformed record. */
            int read = budget-- > 0 ? read_record(data, size, &offset, &names, &record) : 0;
            if (read < 0)
                goto done;
            if (read == 0)
                complete = 0;
            else if (record != NULL)
                items[n++] = record;  /* n < MAX_RECORDS: each record read spent the budget */
        }
        ends[section + 1] = n;
    }
    PyObject *fields[6] = {
        PyLong_FromUnsignedLong(be16(data)),
        PyLong_FromUnsignedLong(flags),
        tuple_of(ends[0], items),
        tuple_of(ends[1] - ends[0], items + ends[0]),
        tuple_of(ends[2] - ends[1], items + ends[1]),
        PyBool_FromLong(complete && qdcount <= MAX_RECORDS),
    };
    result = tuple_taking(6, fields);
done:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_DECREF(items[i]);
    for (int i = 0; i < names.count; i++)
        Py_DECREF(names.text[i]);
    return result;
}

PyDoc_STRVAR(parse_fields_doc,
"parse_fields(payload) -> None or (id, flags, questions, answers, additionals, complete)\n\n"
"One DNS message (a UDP payload, or a TCP message without its length prefix) in plain\n"
"tuples: questions as (name, qtype), A, AAAA, CNAME and PTR records of class IN as\n"
"(name, rtype, ttl, value); None when the bytes cannot be DNS.  As dns._parse_fields_py.");

static PyObject *parse_fields(PyObject *self, PyObject *payload)
{
    Py_buffer view;
    if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = parse(view.buf, view.len);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"parse_fields", parse_fields, METH_O, parse_fields_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dns", "DNS messages, compiled (see dns.py).", -1, methods};

PyMODINIT_FUNC PyInit__dns(void)
{
    return PyModule_Create(&module);
}
