/* The common case of the decoder, compiled: Ethernet (up to two VLAN tags), then IPv4 without
 * fragmentation or IPv6 without extension headers, then TCP or UDP (not a tunnel port).
 *
 * Most frames of a contact-center capture are exactly that.  The layer-by-layer NumPy
 * decoder (decode.py, layers/) reads each header field with its own gather over the whole
 * batch, so every frame's header is fetched from memory again and again; here each frame is
 * read once.  Anything else — another link or network layer, options this code does not
 * walk, fragments, tunnels (Teredo by its shape too), ICMP, a frame too short for its headers — is left to the NumPy
 * decoder ("deferred"), which stays the definition of what a packet decodes to: the tests
 * hold the two equal on every frame this code accepts.
 *
 * Captures are hostile input: every read is checked against the frame's captured end, and
 * that end against the buffer's length, before it is made. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { SRC_HI, SRC_LO, DST_HI, DST_LO, PAYLOAD_HEAD, UINT64_COLUMNS };
enum { PROTO, SPORT, DPORT, IP_LEN, TCP_FLAGS, SEQ, VLAN, PAYLOAD, PAYLOAD_LEN, NUMBER_COLUMNS };
enum { PREFETCH = 8 };  /* frames ahead */

static inline uint32_t be16(const unsigned char *p) { return ((uint32_t)p[0] << 8) | p[1]; }
static inline uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t be64(const unsigned char *p) { return ((uint64_t)be32(p) << 32) | be32(p + 4); }

static inline int is_vlan(uint32_t ethertype)
{
    return ethertype == 0x8100 || ethertype == 0x88A8 || ethertype == 0x9100 || ethertype == 0x9200;
}

/* UDP ports that may carry a tunnel (transport.py UDP_TUNNELS): the NumPy decoder decides. */
static inline int is_tunnel_port(uint32_t port)
{
    return port == 4789 || port == 8472 || port == 6081 || port == 2152 || port == 3544 || port == 5072
           || port == 4754;
}

/* A UDP payload with Teredo's shape, on any port (layers/teredo.py looks_like_teredo, the
 * definition): [authentication] [origin indication] then an IPv6 header that fills the
 * datagram exactly, with a Teredo address (2001:0::/32) on one side.  `captured` bytes of the
 * payload are in the buffer, `size` on the wire. */
static int looks_like_teredo(const unsigned char *p, int64_t captured, int64_t size)
{
    int64_t skip = 0;
    if (captured >= 4 && be16(p) == 0x0001)  /* authentication: 13 bytes, the id and the value */
        skip = 13 + p[2] + p[3];
    if (skip + 2 <= captured && be16(p + skip) == 0x0000)  /* origin indication */
        skip += 8;
    if (skip + 40 > captured)
        return 0;
    const unsigned char *ip = p + skip;
    return (ip[0] >> 4) == 6 && 40 + (int64_t)be16(ip + 4) == size - skip
           && (be32(ip + 8) == 0x20010000 || be32(ip + 24) == 0x20010000);
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* One frame; returns 1 and fills the row if it is the common case, 0 to defer it. */
static int decode_frame(const unsigned char *data, Py_ssize_t data_len, int64_t pos, int64_t end, int64_t wire_end,
                        uint64_t *wide, int64_t *number)
{
    /* ethernet_ip checked the row (frame_inside): no difference or sum below can wrap. */
    if (pos < 0 || end > data_len || end - pos < 14)
        return 0;
    uint32_t ethertype = be16(data + pos + 12);
    int64_t at = pos + 14, vlan = -1;
    for (int tags = 0; is_vlan(ethertype); tags++) {
        if (tags == 2 || at + 4 > end)
            return 0;
        if (vlan < 0)
            vlan = be16(data + at) & 0x0FFF;  /* the outermost tag, as decode_vlan keeps it */
        ethertype = be16(data + at + 2);
        at += 4;
    }

    int64_t total, l4;
    uint32_t proto;
    if (ethertype == 0x0800) {
        if (at + 20 > end)
            return 0;
        const unsigned char *ip = data + at;
        int64_t header = (ip[0] & 0x0F) * 4;
        if ((ip[0] >> 4) != 4 || header < 20 || at + header > end)
            return 0;
        if (be16(ip + 6) & 0x3FFF)  /* more fragments, or an offset: fragment attribution is NumPy's */
            return 0;
        total = be16(ip + 2);
        if (total == 0)  /* segmentation offload: the wire length is the truth */
            total = wire_end - at;
        if (total < header)
            return 0;
        proto = ip[9];
        wide[SRC_HI] = 0;
        wide[SRC_LO] = 0xFFFF00000000ULL | be32(ip + 12);
        wide[DST_HI] = 0;
        wide[DST_LO] = 0xFFFF00000000ULL | be32(ip + 16);
        l4 = at + header;
    } else if (ethertype == 0x86DD) {
        if (at + 40 > end)
            return 0;
        const unsigned char *ip = data + at;
        if ((ip[0] >> 4) != 6)
            return 0;
        uint32_t payload_length = be16(ip + 4);
        total = payload_length ? (int64_t)payload_length + 40 : wire_end - at;  /* 0: a jumbogram */
        proto = ip[6];  /* TCP or UDP right away, or deferred below: no extension headers here */
        wide[SRC_HI] = be64(ip + 8);
        wide[SRC_LO] = be64(ip + 16);
        wide[DST_HI] = be64(ip + 24);
        wide[DST_LO] = be64(ip + 32);
        l4 = at + 40;
    } else {
        return 0;
    }

    if (proto != 6 && proto != 17)
        return 0;
    int64_t limit = min64(end, at + total);
    if (l4 + 4 > limit)
        return 0;
    const unsigned char *t = data + l4;
    uint32_t sport = be16(t), dport = be16(t + 2);
    int64_t header = 8, flags = 0, seq = 0;
    if (proto == 6) {
        header = 20;
        if (l4 + 14 <= limit) {  /* flags are known only if captured */
            header = (t[12] >> 4) * 4;
            flags = t[13];
            seq = be32(t + 4);
        }
    } else if (is_tunnel_port(sport) || is_tunnel_port(dport)) {
        return 0;
    } else if (limit - l4 - 8 >= 40 && looks_like_teredo(t + 8, limit - l4 - 8, (int64_t)be16(t + 4) - 8)) {
        return 0;
    }
    number[PROTO] = proto;
    number[SPORT] = sport;
    number[DPORT] = dport;
    number[IP_LEN] = total;
    number[TCP_FLAGS] = flags;
    number[SEQ] = seq;
    number[VLAN] = vlan;
    int64_t payload_length = max64(limit - l4 - header, 0);
    uint64_t head = 0;  /* the payload's first eight bytes, big-endian, zero past its end */
    for (int64_t i = 0; i < 8 && i < payload_length; i++)
        head |= (uint64_t)data[l4 + header + i] << (56 - 8 * i);
    wide[PAYLOAD_HEAD] = head;
    number[PAYLOAD] = l4 + header;
    number[PAYLOAD_LEN] = payload_length;
    return 1;
}

/* A row (start, end, wire_end) the walk can make: the frame inside data, its wire length a
 * 32-bit count (as pcap and pcapng store it) from its start.  Checked before any byte is read,
 * so that ``end - pos``, ``wire_end - at`` and ``at + total`` stay far from wrapping. */
static int frame_inside(const int64_t span[3], Py_ssize_t data_len)
{
    return span[0] >= 0 && span[0] <= span[1] && span[1] <= data_len
           && span[2] >= span[0] && span[2] - span[0] <= (int64_t)UINT32_MAX;
}

static int int64_storage(Py_buffer *b, Py_ssize_t rows, Py_ssize_t columns, const char *what)
{
    if (b->len < rows * columns * 8) {
        PyErr_Format(PyExc_ValueError, "%s must hold %zd int64 values", what, rows * columns);
        return 0;
    }
    return 1;
}

PyDoc_STRVAR(ethernet_ip_doc,
"ethernet_ip(data, frames, wide, numbers, decoded) -> count\n\n"
"frames: int64 rows (start, end, wire_end) of Ethernet frames in data.  For each frame i that\n"
"is the common case, fill column i of wide (uint64 rows: src_hi, src_lo, dst_hi, dst_lo,\n"
"payload_head) and of numbers (int64 rows: proto, sport, dport, ip_len, tcp_flags, seq, vlan,\n"
"payload, payload_len) and set decoded[i] to 1; else set it to 0.  Returns how many were decoded.");

static PyObject *ethernet_ip(PyObject *self, PyObject *args)
{
    Py_buffer data, frames, wides, numbers, decoded;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*", &data, &frames, &wides, &numbers, &decoded))
        return NULL;
    Py_ssize_t n = frames.len / 24, count = 0;
    PyObject *result = NULL;
    if (frames.len % 24) {
        PyErr_SetString(PyExc_ValueError, "frames must be int64 rows of (start, end, wire_end)");
        goto done;
    }
    if (!int64_storage(&wides, n, UINT64_COLUMNS, "wide") || !int64_storage(&numbers, n, NUMBER_COLUMNS, "numbers"))
        goto done;
    if (decoded.len < n) {
        PyErr_SetString(PyExc_ValueError, "decoded must hold one byte per frame");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t span[3];
        memcpy(span, (const unsigned char *)frames.buf + 24 * i, sizeof span);
        if (!frame_inside(span, data.len)) {
            PyErr_Format(PyExc_ValueError, "frames: row %zd is not a frame inside data", i);
            goto done;
        }
    }
    {
        const unsigned char *bytes = data.buf;
        const unsigned char *frame = frames.buf;
        unsigned char *wide_out = wides.buf, *number_out = numbers.buf, *flag = decoded.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) {
            int64_t span[3];
            uint64_t wide[UINT64_COLUMNS];
            int64_t number[NUMBER_COLUMNS];
            /* Frames are far apart: ask for a later one's headers now, so its fetch from
             * memory overlaps the work on this one.  (A hint: never a fault, whatever the address.) */
            if (i + PREFETCH < n) {
                int64_t ahead;
                memcpy(&ahead, frame + 24 * (i + PREFETCH), sizeof ahead);
                if (ahead >= 0 && ahead < data.len) {
                    __builtin_prefetch(bytes + ahead);
                    __builtin_prefetch(bytes + ahead + 63);
                }
            }
            memcpy(span, frame + 24 * i, sizeof span);
            flag[i] = (unsigned char)decode_frame(bytes, data.len, span[0], span[1], span[2], wide, number);
            if (flag[i]) {  /* column-major: each column comes out contiguous */
                for (int c = 0; c < UINT64_COLUMNS; c++)
                    memcpy(wide_out + 8 * (c * n + i), &wide[c], 8);
                for (int c = 0; c < NUMBER_COLUMNS; c++)
                    memcpy(number_out + 8 * (c * n + i), &number[c], 8);
                count++;
            }
        }
        Py_END_ALLOW_THREADS
    }
    result = PyLong_FromSsize_t(count);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&frames);
    PyBuffer_Release(&wides);
    PyBuffer_Release(&numbers);
    PyBuffer_Release(&decoded);
    return result;
}

static PyMethodDef methods[] = {
    {"ethernet_ip", ethernet_ip, METH_VARARGS, ethernet_ip_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastpath", "The decoder's common case, compiled (see fastpath.py).", -1, methods};

PyMODINIT_FUNC PyInit__fastpath(void)
{
    return PyModule_Create(&module);
}
