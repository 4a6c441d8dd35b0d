/* A file's SHA-256 from an open descriptor, read and hashed without the GIL (see digest.py).
 *
 * digest.py hashes each capture on a thread beside the flow table.  In Python that thread takes
 * the GIL back after every read and every update: while the main thread runs Python (imports,
 * judging), each of those waits up to the switch interval, and the hash crawls at a third of
 * its speed while slowing the main thread too.  Here the whole loop runs with the GIL let go
 * once, against OpenSSL's libcrypto (CPython's hashlib uses the same).
 *
 * The file is read from the descriptor's current offset to its end, in pieces of one buffer
 * that stays in the CPU's cache between the read and the hash. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>

#define PIECE (1 << 20)

static EVP_MD *sha256;
static long long left_for_later = -1; /* held (>= 0): a loop waits once no more bytes than this remain (digest.held) */

PyDoc_STRVAR(sha256_fd_doc,
"sha256_fd(fd) -> (digest: bytes, hashed: int)\n\n"
"SHA-256 of what is read from file descriptor fd until its end, and how many bytes that was;\n"
"OSError if a read fails. The descriptor is left open, at the end of the file.");

static PyObject *sha256_fd(PyObject *self, PyObject *arg)
{
    int fd = PyObject_AsFileDescriptor(arg);
    if (fd < 0)
        return NULL;
    unsigned char *buffer = malloc(PIECE);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (buffer == NULL || ctx == NULL) {
        free(buffer);
        EVP_MD_CTX_free(ctx);
        return PyErr_NoMemory();
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    long long hashed = 0;
    int read_errno = 0, ok = 1;

    Py_BEGIN_ALLOW_THREADS
    struct stat status;
    long long size = fstat(fd, &status) == 0 ? (long long)status.st_size : 0;
    long long start = (long long)lseek(fd, 0, SEEK_CUR);
    ok = EVP_DigestInit_ex(ctx, sha256, NULL);
    while (ok) {
        long long keep;
        long long remaining = size - start - hashed; /* as the file's size was at the start */
        while (remaining > 0 && (keep = __atomic_load_n(&left_for_later, __ATOMIC_RELAXED)) >= 0 && remaining <= keep) {
            const struct timespec millisecond = {0, 1000000};
            nanosleep(&millisecond, NULL);
        }
        ssize_t count = read(fd, buffer, PIECE);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            read_errno = errno;
            break;
        }
        if (count == 0) {
            ok = EVP_DigestFinal_ex(ctx, digest, &digest_len);
            break;
        }
        ok = EVP_DigestUpdate(ctx, buffer, (size_t)count);
        hashed += count;
    }
    Py_END_ALLOW_THREADS

    free(buffer);
    EVP_MD_CTX_free(ctx);
    if (read_errno) {
        errno = read_errno;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (!ok || digest_len != 32) {
        PyErr_SetString(PyExc_RuntimeError, "libcrypto's SHA-256 failed");
        return NULL;
    }
    return Py_BuildValue("(y#L)", (const char *)digest, (Py_ssize_t)digest_len, hashed);
}

PyDoc_STRVAR(hold_doc,
"hold(keep) -> None\n\n"
"keep >= 0: every sha256_fd loop goes on only while more than keep bytes of its file remain, then\n"
"waits before its next piece until hold(-1).");

static PyObject *hold(PyObject *self, PyObject *arg)
{
    long long keep = PyLong_AsLongLong(arg);
    if (keep == -1 && PyErr_Occurred())
        return NULL;
    __atomic_store_n(&left_for_later, keep < 0 ? -1 : keep, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"sha256_fd", sha256_fd, METH_O, sha256_fd_doc},
    {"hold", hold, METH_O, hold_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_digest",
                                    "A file's SHA-256, read and hashed without the GIL (see digest.py).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__digest(void)
{
    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (sha256 == NULL) {
            PyErr_SetString(PyExc_ImportError, "libcrypto has no SHA-256");
            return NULL;
        }
    }
    return PyModule_Create(&module);
}
