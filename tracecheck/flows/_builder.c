/* The flow builder's loop, compiled: a batch's packets to flows in one pass, in capture order,
 * with a hash table from flow key to the key's open flow.  builder.py says what a flow is and
 * holds the same accounting in NumPy, the reference the tests hold this loop to: the flow columns
 * and each packet's flow index come out the same to the bit.
 *
 * NumPy groups a batch's packets by key with a stable sort, then walks each key's packets in
 * capture order.  Here a key's packets are met in capture order too, so every decision is the
 * same; what a key carries from packet to packet (its open flow, the previous packet's time, the
 * TCP connection's state) is kept in a "touch" of the key for the batch.  Only the numbering of
 * the batch's new flows differs as they are made (capture order, where NumPy's is key order); it
 * is put into NumPy's order when the batch ends.
 *
 * The values are a capture's (addresses, ports, timestamps): hostile.  Every buffer's type and
 * size is checked before anything is touched, sums and time differences wrap as NumPy's int64
 * arithmetic does, and a flow index is only ever one this loop made. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_connections.h"

#define TCP 6
#define DEFAULT_TIMEOUT_NS (60 * SECOND) /* Zeek's udp/icmp/other inactivity timeout */
#define EMPTY (-1)                       /* a hash slot no key holds */

/* The flow columns, in builder.FLOW_COLUMNS' order (builder.py checks it against COLUMNS). */
enum {
    A_HI, A_LO, A_PORT, B_HI, B_LO, B_PORT, PROTO, TUNNEL, VLAN, CAPTURE, FIRST_RECORD,
    FIRST_TS, LAST_TS_COL, FIRST_SIDE_B, PKTS_A, BYTES_A, PKTS_B, BYTES_B, FIRST_TS_A, FIRST_TS_B,
    SYN_SIDE_COL, SYNACK_SIDE, SYN_TS, SYNACK_TS,
    CONN_ISN, CONN_CLOSE, CONN_CLOSED_TS, CONN_ATTEMPT_FROM, CONN_SYN_SIDE, CONN_SEEN,
    FLOW_COLUMNS
};
static const char *const column_names[FLOW_COLUMNS] = {
    "a_hi", "a_lo", "a_port", "b_hi", "b_lo", "b_port", "proto", "tunnel", "vlan", "capture", "first_record",
    "first_ts", "last_ts", "first_side_b", "pkts_a", "bytes_a", "pkts_b", "bytes_b", "first_ts_a", "first_ts_b",
    "syn_side", "synack_side", "syn_ts", "synack_ts",
    "conn_isn", "conn_close", "conn_closed_ts", "conn_attempt_from", "conn_syn_side", "conn_seen",
};
/* The connection state's columns kept per flow: ISN .. SEEN of _connections.h, in that order. */
#define CONN_FIRST CONN_ISN

/* The per-packet inputs, in builder.PACKET_INPUTS' order, with the type each must have. */
enum { SRC_HI, SRC_LO, DST_HI, DST_LO, SPORT, DPORT, PROTO_IN, TUNNEL_IN, VLAN_IN, TS_NS, TCP_FLAGS, SEQ_IN,
       IP_LEN, RECORD, COUNTED, PACKET_INPUTS };
static const char input_kind[PACKET_INPUTS] = {'u', 'u', 'u', 'u', 'i', 'i', 'i', 'i', 'i', 'i', 'i', 'i',
                                               'i', 'i', 'i'};
static const Py_ssize_t input_size[PACKET_INPUTS] = {8, 8, 8, 8, 8, 8, 2, 4, 4, 8, 2, 8, 8, 8, 8};

typedef struct {
    uint64_t key;
    int64_t flow;   /* the key's open flow (its most recent), or EMPTY */
    uint32_t epoch; /* the batch that last touched the key */
    uint32_t touch; /* its touch in that batch */
} Slot;

typedef struct {
    size_t slot;
    int64_t prev_ts;             /* the key's previous packet's time (its open flow's last, at first) */
    int64_t state[STATE_COLUMNS]; /* the TCP connection, as connections.py keeps it */
    unsigned char open;          /* the key had a flow when the batch began */
    unsigned char tcp;           /* a TCP packet of the key was seen: its state goes back to the flow */
    unsigned char set_a, set_b;  /* first_ts_a (_b) was set by this batch: later packets may lower it */
} Touch;

typedef struct {
    PyObject_HEAD
    Slot *slots;
    size_t mask;   /* slots - 1, a power of two minus one */
    size_t keys;   /* slots in use */
    uint32_t epoch;
    /* Scratch, kept between batches so that its pages are not faulted in again each time. */
    Touch *touches;
    uint64_t *new_keys;
    int64_t *rank;
    int64_t *spare;
    size_t scratch; /* packets the scratch holds room for */
} FlowIndex;

static inline uint64_t mix(uint64_t h, uint64_t part)
{
    /* One splitmix64 step over the key field, as builder._hash takes it. */
    h ^= part;
    h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
    h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
    return h ^ (h >> 31);
}

static inline size_t find(const FlowIndex *self, uint64_t key)
{
    size_t i = key & self->mask;
    while (self->slots[i].flow != EMPTY && self->slots[i].key != key)
        i = (i + 1) & self->mask;
    return i;
}

/* Twice the slots, the keys moved over; -1 when memory is short.  Called during a batch,
 * without the GIL (PyMem_Raw* need none). */
static Slot *empty_slots(size_t size)
{
    Slot *slots = PyMem_RawMalloc(size * sizeof(Slot));
    if (slots != NULL)
        for (size_t i = 0; i < size; i++)
            slots[i].flow = EMPTY;
    return slots;
}

static int grow(FlowIndex *self)
{
    size_t size = (self->mask + 1) * 2;
    Slot *slots = empty_slots(size);
    if (slots == NULL)
        return -1;
    Slot *old = self->slots;
    size_t old_size = self->mask + 1;
    self->slots = slots;
    self->mask = size - 1;
    for (size_t i = 0; i < old_size; i++)
        if (old[i].flow != EMPTY) {
            size_t j = find(self, old[i].key);
            slots[j] = old[i];
            if (slots[j].epoch == self->epoch) /* touched in this batch: its touch follows it */
                self->touches[slots[j].touch].slot = j;
        }
    PyMem_RawFree(old);
    return 0;
}

/* *array resized to bytes; 0, or -1 leaving it as it was when memory is short. */
static int resize(void **array, size_t bytes)
{
    void *resized = PyMem_RawRealloc(*array, bytes);
    if (resized == NULL)
        return -1;
    *array = resized;
    return 0;
}

static int reserve_scratch(FlowIndex *self, size_t n)
{
    if (n <= self->scratch)
        return 0;
    if (resize((void **)&self->touches, n * sizeof(Touch)) < 0 || resize((void **)&self->new_keys, n * sizeof(uint64_t)) < 0
        || resize((void **)&self->rank, n * sizeof(int64_t)) < 0 || resize((void **)&self->spare, n * sizeof(int64_t)) < 0) {
        PyErr_NoMemory();
        return -1;
    }
    self->scratch = n;
    return 0;
}

/* A buffer of `kind` ('i' signed, 'u' unsigned, 'b' bool) integers of `size` bytes, native order. */
static int has_type(const Py_buffer *b, char kind, Py_ssize_t size)
{
    const char *f = b->format != NULL ? b->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (b->itemsize != size || f[0] == '\0' || f[1] != '\0')
        return 0;
    if (kind == 'b')
        return f[0] == '?';
    return strchr(kind == 'u' ? "BHILQN" : "bhilqn", f[0]) != NULL;
}

/* Put the batch's new flows (rows first .. first + made - 1, made in capture order) into NumPy's
 * order: by key, then by first packet.  Rows, the packets' flow indexes and the touched keys'
 * open flows all follow. */
static const uint64_t *sort_keys; /* qsort has no context argument in C99: set under the GIL */

static int compare_new(const void *x, const void *y)
{
    int64_t i = *(const int64_t *)x, j = *(const int64_t *)y;
    if (sort_keys[i] != sort_keys[j])
        return sort_keys[i] < sort_keys[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static void renumber(FlowIndex *self, int64_t first, int64_t made, char **columns, int64_t *flow_of, Py_ssize_t n,
                     size_t touched)
{
    int64_t *order = self->spare, *rank = self->rank;
    int sorted = 1;
    for (int64_t j = 1; j < made && sorted; j++)
        sorted = self->new_keys[j - 1] <= self->new_keys[j];
    if (sorted)
        return;
    for (int64_t j = 0; j < made; j++)
        order[j] = j;
    sort_keys = self->new_keys;
    qsort(order, (size_t)made, sizeof(int64_t), compare_new);
    for (int64_t j = 0; j < made; j++)
        rank[order[j]] = j;
    /* Each column's new rows, moved to their rank through `order` (free now: rank says it all). */
    for (int c = 0; c < FLOW_COLUMNS; c++) {
        if (c == FIRST_SIDE_B) {
            unsigned char *col = (unsigned char *)columns[c] + first;
            unsigned char *moved = (unsigned char *)order;
            for (int64_t j = 0; j < made; j++)
                moved[rank[j]] = col[j];
            memcpy(col, moved, (size_t)made);
        } else {
            int64_t *col = (int64_t *)columns[c] + first;
            for (int64_t j = 0; j < made; j++)
                order[rank[j]] = col[j];
            memcpy(col, order, (size_t)made * sizeof(int64_t));
        }
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (flow_of[i] >= first)
            flow_of[i] = first + rank[flow_of[i] - first];
    for (size_t k = 0; k < touched; k++) {
        Slot *slot = &self->slots[self->touches[k].slot];
        if (slot->flow >= first)
            slot->flow = first + rank[slot->flow - first];
    }
}

/* The loop itself, without the GIL: returns the number of new flows, or -1 when memory ran
 * short (the index is then unusable: the run ends with the MemoryError). */
static int64_t account_batch(FlowIndex *self, char **columns, int64_t first, char **in, Py_ssize_t n, int64_t capture,
                             int64_t *flow_of, size_t *touched_out)
{
    uint64_t *a_hi = (uint64_t *)columns[A_HI], *a_lo = (uint64_t *)columns[A_LO];
    uint64_t *b_hi = (uint64_t *)columns[B_HI], *b_lo = (uint64_t *)columns[B_LO];
    int64_t **col = (int64_t **)columns;
    unsigned char *first_side_b = (unsigned char *)columns[FIRST_SIDE_B];
    const uint64_t *src_hi = (uint64_t *)in[SRC_HI], *src_lo = (uint64_t *)in[SRC_LO];
    const uint64_t *dst_hi = (uint64_t *)in[DST_HI], *dst_lo = (uint64_t *)in[DST_LO];
    const int64_t *sport = (int64_t *)in[SPORT], *dport = (int64_t *)in[DPORT];
    const int16_t *proto_of = (int16_t *)in[PROTO_IN], *flags_of = (int16_t *)in[TCP_FLAGS];
    const int32_t *tunnel_of = (int32_t *)in[TUNNEL_IN], *vlan_of = (int32_t *)in[VLAN_IN];
    const int64_t *ts_of = (int64_t *)in[TS_NS], *seq_of = (int64_t *)in[SEQ_IN], *ip_len = (int64_t *)in[IP_LEN];
    const int64_t *record = (int64_t *)in[RECORD], *counted = (int64_t *)in[COUNTED];
    uint32_t epoch = self->epoch;
    size_t touched = 0;
    int64_t made = 0;

    for (Py_ssize_t i = 0; i < n; i++) {
        /* Canonical order of the two endpoints: a packet from the higher one is "swapped". */
        uint64_t lo_hi = src_hi[i], lo_lo = src_lo[i], hi_hi = dst_hi[i], hi_lo = dst_lo[i];
        int64_t lo_port = sport[i], hi_port = dport[i];
        int swapped = lo_hi > hi_hi || (lo_hi == hi_hi && (lo_lo > hi_lo || (lo_lo == hi_lo && lo_port > hi_port)));
        if (swapped) {
            uint64_t h = lo_hi, l = lo_lo;
            int64_t p = lo_port;
            lo_hi = hi_hi, lo_lo = hi_lo, lo_port = hi_port;
            hi_hi = h, hi_lo = l, hi_port = p;
        }
        int64_t proto = proto_of[i], ts = ts_of[i], flags = flags_of[i];
        uint64_t key = 0x9E3779B97F4A7C15ULL;
        key = mix(key, lo_hi);
        key = mix(key, lo_lo);
        key = mix(key, hi_hi);
        key = mix(key, hi_lo);
        key = mix(key, ((uint64_t)lo_port << 16) | (uint64_t)hi_port);
        key = mix(key, ((uint64_t)proto << 32) | (uint64_t)(int64_t)tunnel_of[i]);

        size_t s = find(self, key);
        if (self->slots[s].flow == EMPTY && (self->keys + 1) * 2 > self->mask + 1) { /* a load of at most a half */
            if (grow(self) < 0)
                return -1;
            s = find(self, key);
        }
        Slot *slot = &self->slots[s];
        int first_in_batch = slot->flow == EMPTY || slot->epoch != epoch;
        if (slot->flow == EMPTY) {
            slot->key = key;
            slot->epoch = 0;
            self->keys++;
        }
        if (first_in_batch) {
            Touch *t = &self->touches[touched];
            int64_t open = slot->flow;
            slot->epoch = epoch;
            slot->touch = (uint32_t)touched++;
            t->slot = s;
            t->open = open != EMPTY;
            t->tcp = t->set_a = t->set_b = 0;
            t->prev_ts = t->open ? col[LAST_TS_COL][open] : 0;
            t->state[OPEN] = t->open;
            t->state[LAST_TS] = t->open ? col[LAST_TS_COL][open] : NONE;
            for (int c = ISN; c < STATE_COLUMNS; c++)
                t->state[c] = t->open ? col[CONN_FIRST + c - ISN][open] : NONE;
        }
        Touch *t = &self->touches[slot->touch];

        int fresh;
        if (proto == TCP) { /* where Zeek ends a connection or sees the tuple reused */
            int64_t seq = seq_of[i];
            fresh = starts_anew(t->state, ts, flags, seq);
            if (fresh) {
                const int64_t anew[STATE_COLUMNS] = {1, ts, NONE, 0, NONE, NONE, NONE, 0};
                memcpy(t->state, anew, sizeof anew);
            }
            account(t->state, ts, flags, seq, swapped);
            t->tcp = 1;
        } else {
            fresh = (first_in_batch && !t->open) || (int64_t)((uint64_t)ts - (uint64_t)t->prev_ts) > DEFAULT_TIMEOUT_NS;
        }
        t->prev_ts = ts;

        int64_t f;
        if (fresh) {
            f = first + made;
            self->new_keys[made++] = key;
            a_hi[f] = lo_hi, a_lo[f] = lo_lo, col[A_PORT][f] = lo_port;
            b_hi[f] = hi_hi, b_lo[f] = hi_lo, col[B_PORT][f] = hi_port;
            col[PROTO][f] = proto, col[TUNNEL][f] = tunnel_of[i], col[VLAN][f] = vlan_of[i];
            col[CAPTURE][f] = capture, col[FIRST_RECORD][f] = record[i];
            first_side_b[f] = (unsigned char)swapped;
            col[FIRST_TS][f] = INT64_MAX, col[LAST_TS_COL][f] = INT64_MIN;
            col[PKTS_A][f] = col[BYTES_A][f] = col[PKTS_B][f] = col[BYTES_B][f] = 0;
            col[FIRST_TS_A][f] = col[FIRST_TS_B][f] = NONE;
            col[SYN_SIDE_COL][f] = col[SYNACK_SIDE][f] = col[SYN_TS][f] = col[SYNACK_TS][f] = NONE;
            for (int c = CONN_ISN; c <= CONN_SEEN; c++)
                col[c][f] = 0;
            slot->flow = f;
            t->set_a = t->set_b = 0;
        } else {
            f = slot->flow;
        }
        flow_of[i] = f;

        /* Counters per canonical side; a fragment attributed to its first counts no packet. */
        int64_t *pkts = col[swapped ? PKTS_B : PKTS_A], *bytes = col[swapped ? BYTES_B : BYTES_A];
        pkts[f] = (int64_t)((uint64_t)pkts[f] + (uint64_t)counted[i]);
        bytes[f] = (int64_t)((uint64_t)bytes[f] + (uint64_t)ip_len[i]);
        if (ts < col[FIRST_TS][f])
            col[FIRST_TS][f] = ts;
        if (ts > col[LAST_TS_COL][f])
            col[LAST_TS_COL][f] = ts;
        /* A side's first packet time is set once, by the batch that first sees the side: the
         * lowest of that batch's times (timestamps may go backwards).  NumPy's passes take the
         * largest time for "no packet from this side", so a packet at that time sets nothing. */
        int64_t *side_first = col[swapped ? FIRST_TS_B : FIRST_TS_A];
        unsigned char *set = swapped ? &t->set_b : &t->set_a;
        if (*set) {
            if (ts < side_first[f])
                side_first[f] = ts;
        } else if (side_first[f] == NONE && ts != INT64_MAX) {
            side_first[f] = ts;
            *set = 1;
        }
        if (proto == TCP) {
            int64_t handshake = flags & (SYN | ACK);
            if (handshake == SYN && col[SYN_SIDE_COL][f] == NONE)
                col[SYN_SIDE_COL][f] = swapped, col[SYN_TS][f] = ts;
            else if (handshake == (SYN | ACK) && col[SYNACK_SIDE][f] == NONE)
                col[SYNACK_SIDE][f] = swapped, col[SYNACK_TS][f] = ts;
        }
    }

    /* Each TCP key's connection goes back to its open flow, for the next batch. */
    for (size_t k = 0; k < touched; k++) {
        Touch *t = &self->touches[k];
        if (t->tcp)
            for (int c = ISN; c < STATE_COLUMNS; c++)
                col[CONN_FIRST + c - ISN][self->slots[t->slot].flow] = t->state[c];
    }
    *touched_out = touched;
    return made;
}

PyDoc_STRVAR(add_doc,
"add(columns, size, packets, capture, flow_of) -> int\n\n"
"Account one batch's packets to flows.  columns: the flow columns in COLUMNS' order, writable, each\n"
"with room for size + len(packets) rows (size rows in use); packets: the per-packet arrays in\n"
"builder.PACKET_INPUTS' order; capture: the capture's index; flow_of: a writable int64 array\n"
"that gets each packet's flow.  Returns the number of new flows (rows size onwards).");

static PyObject *FlowIndex_add(FlowIndex *self, PyObject *args)
{
    PyObject *columns_given, *packets_given;
    Py_ssize_t size;
    long long capture;
    PyObject *out_given;
    if (!PyArg_ParseTuple(args, "OnOLO", &columns_given, &size, &packets_given, &capture, &out_given))
        return NULL;
    PyObject *columns_seq = PySequence_Fast(columns_given, "add: columns must be a sequence");
    if (columns_seq == NULL)
        return NULL;
    PyObject *packets_seq = PySequence_Fast(packets_given, "add: packets must be a sequence");
    if (packets_seq == NULL) {
        Py_DECREF(columns_seq);
        return NULL;
    }
    Py_buffer columns[FLOW_COLUMNS], in[PACKET_INPUTS], out;
    int columns_held = 0, in_held = 0, out_held = 0;
    PyObject *result = NULL;
    const int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;

    if (PySequence_Fast_GET_SIZE(columns_seq) != FLOW_COLUMNS || PySequence_Fast_GET_SIZE(packets_seq) != PACKET_INPUTS) {
        PyErr_Format(PyExc_ValueError, "add: %d flow columns and %d packet arrays expected", FLOW_COLUMNS, PACKET_INPUTS);
        goto done;
    }
    for (; in_held < PACKET_INPUTS; in_held++)
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(packets_seq, in_held), &in[in_held], flags) < 0)
            goto done;
    if (PyObject_GetBuffer(out_given, &out, flags | PyBUF_WRITABLE) < 0)
        goto done;
    out_held = 1;
    Py_ssize_t n = in[0].len / 8;
    for (int k = 0; k < PACKET_INPUTS; k++)
        if (!has_type(&in[k], input_kind[k], input_size[k]) || in[k].len != n * input_size[k]) {
            PyErr_Format(PyExc_ValueError, "add: packet array %d is not %zd %s%zd-byte integers", k, n,
                         input_kind[k] == 'u' ? "unsigned " : "", input_size[k]);
            goto done;
        }
    if (!has_type(&out, 'i', 8) || out.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "add: flow_of must be one int64 per packet");
        goto done;
    }
    if (size < 0 || size > PY_SSIZE_T_MAX / 2 - n) {
        PyErr_SetString(PyExc_ValueError, "add: size out of range");
        goto done;
    }
    for (; columns_held < FLOW_COLUMNS; columns_held++) {
        int c = columns_held;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(columns_seq, c), &columns[c], flags | PyBUF_WRITABLE) < 0)
            goto done;
        int boolean = c == FIRST_SIDE_B;
        char kind = boolean ? 'b' : (c == A_HI || c == A_LO || c == B_HI || c == B_LO) ? 'u' : 'i';
        Py_ssize_t width = boolean ? 1 : 8;
        if (!has_type(&columns[c], kind, width) || columns[c].len < (size + n) * width) {
            columns_held++;
            PyErr_Format(PyExc_ValueError, "add: flow column %s must be %s with room for %zd rows", column_names[c],
                         boolean ? "bool" : kind == 'u' ? "uint64" : "int64", size + n);
            goto done;
        }
    }
    if (n == 0) {
        result = PyLong_FromLong(0);
        goto done;
    }
    if (self->slots == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "add: this FlowIndex ran out of memory before and cannot go on");
        goto done;
    }
    if (reserve_scratch(self, (size_t)n) < 0)
        goto done;
    if (self->epoch == UINT32_MAX) { /* the batch counter wraps: forget which batch touched a key */
        for (size_t i = 0; i <= self->mask; i++)
            self->slots[i].epoch = 0;
        self->epoch = 0;
    }
    self->epoch++;
    {
        char *column_data[FLOW_COLUMNS] = {0}, *in_data[PACKET_INPUTS] = {0};
        for (int c = 0; c < FLOW_COLUMNS; c++)
            column_data[c] = columns[c].buf;
        for (int k = 0; k < PACKET_INPUTS; k++)
            in_data[k] = in[k].buf;
        int64_t made;
        size_t touched;
        Py_BEGIN_ALLOW_THREADS
        made = account_batch(self, column_data, size, in_data, n, capture, out.buf, &touched);
        Py_END_ALLOW_THREADS
        if (made < 0) {
            PyMem_RawFree(self->slots);
            self->slots = NULL;
            PyErr_NoMemory();
            goto done;
        }
        renumber(self, size, made, column_data, out.buf, n, touched); /* with the GIL: qsort's keys are a static */
        result = PyLong_FromLongLong(made);
    }
done:
    for (int c = 0; c < columns_held; c++)
        PyBuffer_Release(&columns[c]);
    for (int k = 0; k < in_held; k++)
        PyBuffer_Release(&in[k]);
    if (out_held)
        PyBuffer_Release(&out);
    Py_DECREF(columns_seq);
    Py_DECREF(packets_seq);
    return result;
}

static void FlowIndex_dealloc(FlowIndex *self)
{
    PyMem_RawFree(self->slots);
    PyMem_RawFree(self->touches);
    PyMem_RawFree(self->new_keys);
    PyMem_RawFree(self->rank);
    PyMem_RawFree(self->spare);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *FlowIndex_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0 || (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0)) {
        PyErr_SetString(PyExc_TypeError, "FlowIndex() takes no arguments");
        return NULL;
    }
    FlowIndex *self = (FlowIndex *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->mask = 1023;
    self->slots = empty_slots(self->mask + 1);
    if (self->slots == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static PyObject *FlowIndex_keys(FlowIndex *self, void *closure)
{
    return PyLong_FromSize_t(self->keys);
}

static PyMethodDef FlowIndex_methods[] = {
    {"add", (PyCFunction)FlowIndex_add, METH_VARARGS, add_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FlowIndex_getset[] = {
    {"keys", (getter)FlowIndex_keys, NULL, "Flow keys seen so far.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FlowIndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tracecheck.flows._builder.FlowIndex",
    .tp_doc = "Each flow key's open flow, and the loop that accounts a batch's packets to flows.",
    .tp_basicsize = sizeof(FlowIndex),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = FlowIndex_new,
    .tp_dealloc = (destructor)FlowIndex_dealloc,
    .tp_methods = FlowIndex_methods,
    .tp_getset = FlowIndex_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_builder",
                                    "The flow builder's loop, compiled (see builder.py).", -1, NULL};

PyMODINIT_FUNC PyInit__builder(void)
{
    if (PyType_Ready(&FlowIndexType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    PyObject *names = PyTuple_New(FLOW_COLUMNS);
    if (names == NULL)
        goto fail;
    for (int c = 0; c < FLOW_COLUMNS; c++) {
        PyObject *name = PyUnicode_FromString(column_names[c]);
        if (name == NULL) {
            Py_DECREF(names);
            goto fail;
        }
        PyTuple_SET_ITEM(names, c, name);
    }
    if (PyModule_AddObject(m, "COLUMNS", names) < 0) {
        Py_DECREF(names);
        goto fail;
    }
    Py_INCREF(&FlowIndexType);
    if (PyModule_AddObject(m, "FlowIndex", (PyObject *)&FlowIndexType) < 0) {
        Py_DECREF(&FlowIndexType);
        goto fail;
    }
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
