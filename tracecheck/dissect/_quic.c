/* A QUIC Initial's protection removed, compiled against OpenSSL's libcrypto (see quic.py).
 *
 * Every QUIC flow's keys are new (they come from the client's random Destination Connection
 * ID), so each flow pays for a key derivation (five HMAC-SHA256), one AES block for the
 * header-protection mask and one AES-GCM open.  Through the `cryptography` package the
 * objects around those cost ~50 us a flow, ten times the work itself; here they are fetched
 * once.  quic.py's _unprotect_py stays the definition (RFC 9001 5.2-5.4, RFC 9369 3.3) and
 * the tests hold the two equal on random and mutated packets.
 *
 * Captures are hostile input: the caller has checked that the packet holds the sample;
 * everything else is checked here before it is read. */

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
#define MAX_CID 255
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
    if (pn_offset < 1 || data.len < pn_offset + 4 + SAMPLE_LEN || data.len > MAX_PACKET || dcid.len > MAX_CID || salt.len > MAX_SALT
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

static PyMethodDef methods[] = {
    {"unprotect", unprotect, METH_VARARGS, unprotect_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_quic", "QUIC Initial unprotection, compiled (see quic.py).",
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
    return PyModule_Create(&module);
}
