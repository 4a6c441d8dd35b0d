/* A QUIC flow's first Initial, compiled (see quic.py): cut out of its datagram, its protection
 * removed against OpenSSL's libcrypto, and its CRYPTO frames found.
 *
 * Every QUIC flow's keys are new (they come from the client's random Destination Connection
 * ID), so each flow pays for a key derivation (five HMAC-SHA256), one AES block for the
 * header-protection mask and one AES-GCM open.  Through the `cryptography` package the
 * objects around those cost ~50 us a flow, ten times the work itself; here they are fetched
 * once.  Once that was done, walking the header and the frames byte by byte in Python was most
 * of what was left of a flow, so those walks are here too.
 *
 * quic.py stays the definition of all three (_parse_long_header_py, _unprotect_py,
 * _crypto_frames_py: RFC 9000 17.2 and 19, RFC 9001 5.2-5.4, RFC 9369 3) and the tests hold
 * each pair equal on random and mutated input.  What depends on the version (the packet kind of
 * each long-header type, the salt, the label prefix) is handed in from quic.py's table on every
 * call, not copied here; the bounds copied here are exported and tested equal to quic.py's, and
 * the records are quic.py's own NamedTuple classes, handed in too.
 *
 * Captures are hostile input: every length is checked against the end of the buffer before
 * anything is read, and every loop is bounded. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#define SHA256_LEN 32
#define SHA256_BLOCK 64
#define SAMPLE_LEN 16
#define TAG_LEN 16
#define MAX_LABEL 32
#define MAX_SALT 64
#define MAX_CID 255           /* what unprotect accepts: a CID length is one byte */
#define MAX_CID_LEN 20        /* RFC 9000 17.2: a CID of a version we know is at most 20 bytes */
#define MAX_FRAMES_PER_PACKET 256
#define MAX_PACKET (1 << 20) /* a UDP datagram is at most 64 KiB; lengths here fit an int */

static EVP_MD *sha256;
static EVP_CIPHER *aes_ecb, *aes_gcm;

/* HMAC-SHA256 (RFC 2104) of a key no longer than a block: every key here is a salt or a
 * secret of 32 bytes. */
static int hmac_sha256(EVP_MD_CTX *ctx, const unsigned char *key, size_t key_len,
                       const unsigned char *msg, size_t msg_len, unsigned char out[SHA256_LEN])
{
    unsigned char pad[SHA256_BLOCK], inner[SHA256_LEN];
    if (key_len > SHA256_BLOCK)
        return 0;
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < key_len; i++)
        pad[i] ^= key[i];
    if (!EVP_DigestInit_ex2(ctx, sha256, NULL) || !EVP_DigestUpdate(ctx, pad, sizeof pad)
        || !EVP_DigestUpdate(ctx, msg, msg_len) || !EVP_DigestFinal_ex(ctx, inner, NULL))
        return 0;
    memset(pad, 0x5c, sizeof pad);
    for (size_t i = 0; i < key_len; i++)
        pad[i] ^= key[i];
    return EVP_DigestInit_ex2(ctx, sha256, NULL) && EVP_DigestUpdate(ctx, pad, sizeof pad)
        && EVP_DigestUpdate(ctx, inner, sizeof inner) && EVP_DigestFinal_ex(ctx, out, NULL);
}

/* TLS 1.3 HKDF-Expand-Label with an empty context, for lengths of one SHA-256 block. */
static int expand_label(EVP_MD_CTX *ctx, const unsigned char secret[SHA256_LEN], const char *prefix,
                        size_t prefix_len, const char *label, size_t out_len, unsigned char *out)
{
    unsigned char info[4 + 6 + 2 * MAX_LABEL + 2], block[SHA256_LEN];
    size_t label_len = strlen(label), full = 6 + prefix_len + label_len, n = 0;
    if (prefix_len > MAX_LABEL || label_len > MAX_LABEL || out_len > SHA256_LEN)
        return 0;
    info[n++] = (unsigned char)(out_len >> 8);
    info[n++] = (unsigned char)out_len;
    info[n++] = (unsigned char)full;
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, prefix, prefix_len);
    n += prefix_len;
    memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = 0;    /* context length */
    info[n++] = 0x01; /* the counter of the one block */
    if (!hmac_sha256(ctx, secret, SHA256_LEN, info, n, block))
        return 0;
    memcpy(out, block, out_len);
    return 1;
}

typedef struct {
    unsigned char key[16], iv[12], hp[16];
} initial_keys;

static int derive_keys(const unsigned char *salt, size_t salt_len, const unsigned char *dcid, size_t dcid_len,
                       const char *prefix, size_t prefix_len, int server, initial_keys *keys)
{
    unsigned char initial[SHA256_LEN], side[SHA256_LEN];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && hmac_sha256(ctx, salt, salt_len, dcid, dcid_len, initial)
        && expand_label(ctx, initial, "", 0, server ? "server in" : "client in", SHA256_LEN, side)
        && expand_label(ctx, side, prefix, prefix_len, "key", 16, keys->key)
        && expand_label(ctx, side, prefix, prefix_len, "iv", 12, keys->iv)
        && expand_label(ctx, side, prefix, prefix_len, "hp", 16, keys->hp);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* RFC 9000 A.3: the full packet number closest to largest + 1 (quic.decode_packet_number). */
static int64_t decode_packet_number(int64_t truncated, int pn_len, int64_t largest)
{
    int64_t expected = largest + 1, window = (int64_t)1 << (8 * pn_len), half = window / 2;
    int64_t candidate = (expected & ~(window - 1)) | truncated;
    if (candidate <= expected - half && candidate < ((int64_t)1 << 62) - window)
        return candidate + window;
    if (candidate > expected + half && candidate >= window)
        return candidate - window;
    return candidate;
}

/* AES-128 of one block under key: the header-protection mask. */
static int aes_block(const unsigned char key[16], const unsigned char in[16], unsigned char out[16])
{
    int len = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx != NULL && EVP_EncryptInit_ex2(ctx, aes_ecb, key, NULL, NULL) && EVP_CIPHER_CTX_set_padding(ctx, 0)
        && EVP_EncryptUpdate(ctx, out, &len, in, 16) && len == 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* AES-128-GCM open of ciphertext||tag into out; 1 when the tag holds, 0 when not, -1 on error. */
static int gcm_open(const initial_keys *keys, const unsigned char nonce[12], const unsigned char *aad,
                    size_t aad_len, const unsigned char *sealed, size_t sealed_len, unsigned char *out)
{
    int len = 0, tail = 0, result = -1;
    size_t text_len = sealed_len - TAG_LEN;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx != NULL && EVP_DecryptInit_ex2(ctx, aes_gcm, keys->key, nonce, NULL)
        && EVP_DecryptUpdate(ctx, NULL, &len, aad, (int)aad_len)
        && EVP_DecryptUpdate(ctx, out, &len, sealed, (int)text_len)
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(sealed + text_len)))
        result = EVP_DecryptFinal_ex(ctx, out + len, &tail) > 0 ? 1 : 0;
    EVP_CIPHER_CTX_free(ctx);
    ERR_clear_error(); /* nothing of a packet that did not open is left for Python's ssl to find */
    return result;
}

PyDoc_STRVAR(unprotect_doc,
"unprotect(data, pn_offset, dcid, salt, label_prefix, server, largest_pn)\n"
"--\n\n"
"Remove header and packet protection from the long-header Initial packet data, keyed on dcid\n"
"with the version's salt and label prefix: (packet number, decrypted payload), or None when\n"
"it does not decrypt.  data must hold pn_offset + 20 bytes.");

static PyObject *unprotect(PyObject *self, PyObject *args)
{
    Py_buffer data, dcid, salt, prefix;
    Py_ssize_t pn_offset;
    int server;
    long long largest;
    if (!PyArg_ParseTuple(args, "y*ny*y*y*pL", &data, &pn_offset, &dcid, &salt, &prefix, &server, &largest))
        return NULL;
    PyObject *result = NULL;
    const unsigned char *d = data.buf;
    initial_keys keys;
    unsigned char mask[16];
    /* pn_offset is compared with what is left after the sample, never added to: no sum to wrap. */
    if (pn_offset < 1 || data.len < 4 + SAMPLE_LEN || pn_offset > data.len - 4 - SAMPLE_LEN || data.len > MAX_PACKET || dcid.len > MAX_CID || salt.len > MAX_SALT
        || prefix.len > MAX_LABEL || largest < -1 || largest >= ((long long)1 << 62)) {
        PyErr_SetString(PyExc_ValueError, "unprotect: a packet too short, or a key or label out of range");
        goto done;
    }
    if (!derive_keys(salt.buf, (size_t)salt.len, dcid.buf, (size_t)dcid.len, prefix.buf, (size_t)prefix.len,
                     server, &keys)
        || !aes_block(keys.hp, d + pn_offset + 4, mask)) {
        PyErr_SetString(PyExc_RuntimeError, "unprotect: libcrypto failed");
        goto done;
    }
    unsigned char first = d[0] ^ (mask[0] & 0x0F); /* a long header: the low four bits are masked */
    int pn_len = (first & 0x03) + 1;
    int64_t truncated = 0;
    for (int i = 0; i < pn_len; i++)
        truncated = (truncated << 8) | (d[pn_offset + i] ^ mask[1 + i]);
    int64_t pn = decode_packet_number(truncated, pn_len, largest);

    /* The header as sent before protection is the AEAD's associated data. */
    Py_ssize_t header_len = pn_offset + pn_len, sealed_len = data.len - header_len;
    unsigned char *header = PyMem_Malloc((size_t)header_len);
    PyObject *payload = PyBytes_FromStringAndSize(NULL, sealed_len - TAG_LEN);
    if (header == NULL || payload == NULL) {
        PyMem_Free(header);
        Py_XDECREF(payload);
        if (!PyErr_Occurred())
            PyErr_NoMemory();
        goto done;
    }
    memcpy(header, d, (size_t)header_len);
    header[0] = first;
    for (int i = 0; i < pn_len; i++)
        header[pn_offset + i] ^= mask[1 + i];
    unsigned char nonce[12];
    memcpy(nonce, keys.iv, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] ^= (unsigned char)((uint64_t)pn >> (8 * i));
    int opened = gcm_open(&keys, nonce, header, (size_t)header_len, d + header_len, (size_t)sealed_len,
                          (unsigned char *)PyBytes_AS_STRING(payload));
    PyMem_Free(header);
    if (opened == 1) {
        result = Py_BuildValue("LN", (long long)pn, payload);
    } else {
        Py_DECREF(payload);
        if (opened == 0) {
            Py_INCREF(Py_None);
            result = Py_None;
        }
        else
            PyErr_SetString(PyExc_RuntimeError, "unprotect: libcrypto failed");
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&dcid);
    PyBuffer_Release(&salt);
    PyBuffer_Release(&prefix);
    return result;
}

/* --------------------------------------------------------------------------- records and wire pieces */

/* The NamedTuple class the caller hands in (LongHeaderPacket, CryptoFrame), or NULL and an
 * error when it is not a tuple subclass, the only kind new_record can fill. */
static PyTypeObject *record_class(PyObject *cls)
{
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the record class must be a NamedTuple");
        return NULL;
    }
    return (PyTypeObject *)cls;
}

/* cls(*items), taking the items' references (NULL among them: an error is set, all released).
 * A NamedTuple's __new__ is a Python function that only fills the tuple, and calling it costs
 * more than the parse; the record is filled here as tuple.__new__(cls, items) would fill it. */
static PyObject *new_record(PyTypeObject *cls, PyObject **items, Py_ssize_t n)
{
    PyObject *record = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL)
            goto fail;
    record = cls->tp_alloc(cls, n);
    if (record == NULL)
        goto fail;
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(record, i, items[i]);
    return record;
fail:
    for (Py_ssize_t i = 0; i < n; i++)
        Py_XDECREF(items[i]);
    return NULL;
}

/* bytes(obj[start:end]) as Python makes it: a bytes object sliced whole is itself, not a copy
 * (a client's Initial usually fills its datagram). */
static PyObject *slice_bytes(PyObject *obj, const Py_buffer *view, Py_ssize_t start, Py_ssize_t end)
{
    if (start == 0 && end == view->len && PyBytes_CheckExact(obj)) {
        Py_INCREF(obj);
        return obj;
    }
    return PyBytes_FromStringAndSize((const char *)view->buf + start, end - start);
}

/* RFC 9000 16 (quic.read_varint): the integer at pos and where it ends, or 0 when buf ends
 * inside it. */
static int read_varint(const unsigned char *buf, Py_ssize_t len, Py_ssize_t pos, uint64_t *value,
                       Py_ssize_t *next)
{
    if (pos >= len)
        return 0;
    Py_ssize_t size = (Py_ssize_t)1 << (buf[pos] >> 6);
    if (size > len - pos)
        return 0;
    uint64_t v = buf[pos] & 0x3F; /* the two length bits are not part of it */
    for (Py_ssize_t i = 1; i < size; i++)
        v = (v << 8) | buf[pos + i];
    *value = v;
    *next = pos + size;
    return 1;
}

/* Whether str is a Python str equal to the C string name. */
static int is_kind(PyObject *str, const char *name)
{
    return PyUnicode_Check(str) && PyUnicode_CompareWithASCIIString(str, name) == 0;
}

/* --------------------------------------------------------------------------- long headers */

static PyObject *kind_version_negotiation, *kind_unknown;

PyDoc_STRVAR(parse_long_header_doc,
"parse_long_header(buf, start, packet_types, record)\n"
"--\n\n"
"quic._parse_long_header_py(buf, start): the long-header packet at buf[start:] as a record\n"
"(LongHeaderPacket), or None.  packet_types maps each version known to the long-header type\n"
"bits' packet kinds (quic.VERSIONS' packet_types).  IndexError when buf ends before the DCID\n"
"length, as in Python, or when start is negative.");

static PyObject *parse_long_header(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "parse_long_header takes buf, start, packet_types, record");
        return NULL;
    }
    PyTypeObject *cls = record_class(args[3]);
    PyObject *packet_types = args[2];
    if (cls == NULL)
        return NULL;
    if (!PyDict_Check(packet_types)) {
        PyErr_SetString(PyExc_TypeError, "packet_types must be a dict");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *result = NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t len = view.len;
    if (start < 0 || len - start < 6) {
        PyErr_SetString(PyExc_IndexError, "parse_long_header: the buffer ends before the DCID length");
        goto done;
    }
    unsigned first = b[start];
    uint32_t version = (uint32_t)b[start + 1] << 24 | (uint32_t)b[start + 2] << 16 | (uint32_t)b[start + 3] << 8
        | b[start + 4];
    Py_ssize_t pos = start + 5, dcid_len = b[pos];
    if (dcid_len >= len - (pos + 1)) /* the SCID length must follow the DCID */
        goto none;
    Py_ssize_t dcid_at = pos + 1;
    pos += 1 + dcid_len;
    Py_ssize_t scid_len = b[pos];
    if (scid_len > len - (pos + 1))
        goto none;
    Py_ssize_t scid_at = pos + 1;
    pos += 1 + scid_len;

    PyObject *kind; /* borrowed */
    Py_ssize_t token_at = pos, token_len = 0, end = len;
    if (version == 0) {
        kind = kind_version_negotiation; /* the rest of the datagram lists versions */
    } else {
        PyObject *key = PyLong_FromUnsignedLong(version);
        PyObject *types = key == NULL ? NULL : PyDict_GetItemWithError(packet_types, key);
        Py_XDECREF(key);
        if (types == NULL && PyErr_Occurred())
            goto done;
        if (types == NULL) {
            kind = kind_unknown;
        } else {
            if (dcid_len > MAX_CID_LEN || scid_len > MAX_CID_LEN || !(first & 0x40))
                goto none;
            if (!PyTuple_Check(types) || PyTuple_GET_SIZE(types) != 4) {
                PyErr_SetString(PyExc_TypeError, "packet_types must map versions to 4-tuples of kinds");
                goto done;
            }
            kind = PyTuple_GET_ITEM(types, (first >> 4) & 0x03);
            if (is_kind(kind, "retry")) { /* token then a 16-byte integrity tag, to the end */
                if (len - pos < TAG_LEN)
                    goto none;
                token_len = len - TAG_LEN - pos;
            } else {
                uint64_t value;
                if (is_kind(kind, "initial")) {
                    if (!read_varint(b, len, pos, &value, &pos) || value > (uint64_t)(len - pos))
                        goto none;
                    token_at = pos;
                    token_len = (Py_ssize_t)value;
                    pos += token_len;
                }
                if (!read_varint(b, len, pos, &value, &pos) || value < 1 + TAG_LEN || value > (uint64_t)(len - pos))
                    goto none;
                end = pos + (Py_ssize_t)value;
            }
        }
    }
    /* kind, version, dcid, scid, token, data, pn_offset; each made only while none has failed */
    PyObject *fields[7] = {kind, NULL};
    Py_INCREF(kind);
    (void)((fields[1] = PyLong_FromUnsignedLong(version))
           && (fields[2] = PyBytes_FromStringAndSize((const char *)b + dcid_at, dcid_len))
           && (fields[3] = PyBytes_FromStringAndSize((const char *)b + scid_at, scid_len))
           && (fields[4] = PyBytes_FromStringAndSize((const char *)b + token_at, token_len))
           && (fields[5] = slice_bytes(args[0], &view, start, end))
           && (fields[6] = PyLong_FromSsize_t(pos - start)));
    result = new_record(cls, fields, 7);
    goto done;
none:
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&view);
    return result;
}

/* --------------------------------------------------------------------------- frames */

/* PADDING runs fill most of an Initial: skipped a word at a time. */
static Py_ssize_t skip_zeros(const unsigned char *buf, Py_ssize_t len, Py_ssize_t pos)
{
    uint64_t word;
    while (len - pos >= 8) {
        memcpy(&word, buf + pos, 8);
        if (word != 0)
            break;
        pos += 8;
    }
    while (pos < len && buf[pos] == 0)
        pos++;
    return pos;
}

/* quic._skip_ack: where the ACK frame whose fields start at pos ends, or 0 when it is cut short. */
static int skip_ack(const unsigned char *buf, Py_ssize_t len, Py_ssize_t pos, int ecn, Py_ssize_t *next)
{
    uint64_t fields[4], ignored; /* largest acknowledged, delay, range count, first range */
    for (int i = 0; i < 4; i++)
        if (!read_varint(buf, len, pos, &fields[i], &pos))
            return 0;
    if (fields[2] > (uint64_t)((len - pos) / 2)) /* each range needs at least two bytes */
        return 0;
    uint64_t more = 2 * fields[2] + (ecn ? 3 : 0); /* bounded by the check above */
    for (uint64_t i = 0; i < more; i++)
        if (!read_varint(buf, len, pos, &ignored, &pos))
            return 0;
    *next = pos;
    return 1;
}

PyDoc_STRVAR(crypto_frames_doc,
"crypto_frames(payload, record)\n"
"--\n\n"
"quic._crypto_frames_py(payload): the CRYPTO frames of a decrypted Initial as a list of\n"
"records (CryptoFrame), skipping PADDING, PING and ACK and stopping at anything else.");

static PyObject *crypto_frames(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "crypto_frames takes payload, record");
        return NULL;
    }
    PyTypeObject *cls = record_class(args[1]);
    if (cls == NULL)
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *b = view.buf;
    Py_ssize_t len = view.len, pos = 0;
    PyObject *out = PyList_New(0);
    for (int n = 0; out != NULL && n < MAX_FRAMES_PER_PACKET && pos < len; n++) {
        unsigned char frame_type = b[pos];
        if (frame_type == 0x00) { /* PADDING: the whole run, as one frame */
            pos = skip_zeros(b, len, pos);
        } else if (frame_type == 0x01) { /* PING */
            pos++;
        } else if (frame_type == 0x02 || frame_type == 0x03) { /* ACK; 0x03 adds ECN counts */
            if (!skip_ack(b, len, pos + 1, frame_type == 0x03, &pos))
                break;
        } else if (frame_type == 0x06) {
            uint64_t offset, length;
            Py_ssize_t at;
            if (!read_varint(b, len, pos + 1, &offset, &at) || !read_varint(b, len, at, &length, &at)
                || length > (uint64_t)(len - at))
                break;
            PyObject *fields[2] = {PyLong_FromUnsignedLongLong(offset), NULL};
            if (fields[0] != NULL)
                fields[1] = PyBytes_FromStringAndSize((const char *)b + at, (Py_ssize_t)length);
            PyObject *frame = new_record(cls, fields, 2);
            if (frame == NULL || PyList_Append(out, frame) < 0)
                Py_CLEAR(out);
            Py_XDECREF(frame);
            pos = at + (Py_ssize_t)length;
        } else { /* its length is unknown to us, and the hello never comes after it */
            break;
        }
    }
    PyBuffer_Release(&view);
    return out;
}

/* --------------------------------------------------------------------------- the module */

static PyMethodDef methods[] = {
    {"unprotect", unprotect, METH_VARARGS, unprotect_doc},
    {"parse_long_header", (PyCFunction)(void (*)(void))parse_long_header, METH_FASTCALL, parse_long_header_doc},
    {"crypto_frames", (PyCFunction)(void (*)(void))crypto_frames, METH_FASTCALL, crypto_frames_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_quic",
                                    "QUIC Initial packets cut out, unprotected and their frames walked, compiled (see quic.py).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__quic(void)
{
    /* Fetched once: an implicit fetch on every use is most of what a small operation costs. */
    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        aes_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
        aes_gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    }
    if (sha256 == NULL || aes_ecb == NULL || aes_gcm == NULL) {
        PyErr_SetString(PyExc_ImportError, "libcrypto has no SHA-256, AES-128-ECB or AES-128-GCM");
        return NULL;
    }
    if (kind_version_negotiation == NULL) {
        kind_version_negotiation = PyUnicode_InternFromString("version_negotiation");
        kind_unknown = PyUnicode_InternFromString("unknown");
        if (kind_version_negotiation == NULL || kind_unknown == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&module);
    /* The bounds copied from quic.py, for the tests to hold equal to it. */
    if (m != NULL
        && (PyModule_AddIntConstant(m, "MAX_CID_LEN", MAX_CID_LEN) < 0
            || PyModule_AddIntConstant(m, "MAX_FRAMES_PER_PACKET", MAX_FRAMES_PER_PACKET) < 0
            || PyModule_AddIntConstant(m, "TAG_LEN", TAG_LEN) < 0
            || PyModule_AddIntConstant(m, "SAMPLE_LEN", SAMPLE_LEN) < 0))
        Py_CLEAR(m);
    return m;
}
