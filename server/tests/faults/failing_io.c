/* Sổ Tay test shim: I/O errors injected into a process (LD_PRELOAD). While the file named by
 * SOTAY_FAIL_FLAG exists, every write or sync to a file under SOTAY_FAIL_DIR after the first
 * SOTAY_FAIL_WRITES_AFTER of them fails with EIO, as a dying disk would. Used by
 * server/tests/io_errors.rs (the server's disk) and server/tests/phone_io_errors.rs (the phone's);
 * built by common::io_fault_shim with the system C compiler. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long seen = 0;

static int failing(int fd) {
    const char *dir = getenv("SOTAY_FAIL_DIR");
    const char *flag = getenv("SOTAY_FAIL_FLAG");
    const char *after = getenv("SOTAY_FAIL_WRITES_AFTER");
    if (!dir || !flag || !after || access(flag, F_OK) != 0) return 0;
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n < 0) return 0;
    target[n] = 0;
    if (strncmp(target, dir, strlen(dir)) != 0) return 0;
    return __atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST) > atol(after);
}

typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef int (*sync_fn)(int);

static void *real(const char *name) { return dlsym(RTLD_NEXT, name); }

ssize_t write(int fd, const void *buf, size_t count) {
    if (failing(fd)) { errno = EIO; return -1; }
    return ((write_fn)real("write"))(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    if (failing(fd)) { errno = EIO; return -1; }
    return ((pwrite_fn)real("pwrite"))(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    if (failing(fd)) { errno = EIO; return -1; }
    return ((pwrite_fn)real("pwrite64"))(fd, buf, count, offset);
}

int fsync(int fd) {
    if (failing(fd)) { errno = EIO; return -1; }
    return ((sync_fn)real("fsync"))(fd);
}

int fdatasync(int fd) {
    if (failing(fd)) { errno = EIO; return -1; }
    return ((sync_fn)real("fdatasync"))(fd);
}
