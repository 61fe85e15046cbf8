// fsynccount: an LD_PRELOAD shim that counts the fsync and fdatasync calls
// a process makes through libc (SQLite's, in a cgo binary; Go's own
// syscalls bypass libc and are not counted). The count lives in an 8-byte
// file named by FSYNC_COUNT_FILE, mapped shared, so a benchmark reads it
// from outside while the process runs.
//
//   gcc -shared -fPIC -O2 -o fsynccount.so fsynccount.c -ldl
//   FSYNC_COUNT_FILE=/tmp/n LD_PRELOAD=./fsynccount.so ./server
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t fallback;
static uint64_t *counter = &fallback;
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);

__attribute__((constructor)) static void init(void) {
	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	const char *path = getenv("FSYNC_COUNT_FILE");
	if (path == NULL || *path == 0) {
		return;
	}
	int fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		return;
	}
	if (ftruncate(fd, sizeof(uint64_t)) == 0) {
		void *m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			counter = (uint64_t *)m;
		}
	}
	close(fd);
}

int fsync(int fd) {
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	return real_fsync(fd);
}

int fdatasync(int fd) {
	__atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
	return real_fdatasync(fd);
}
