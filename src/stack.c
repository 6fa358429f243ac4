/* SPDX-License-Identifier: ISC */
/*
 * stack.c - see stack.h.
 */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "stack.h"

/* Kept below the caller's frame: poll() and the signal frames the kernel
 * may push there while the thread waits. */
#define KEEP_BELOW 2048

/* The lowest address of this thread's stack, 0 when not registered. */
static _Thread_local uintptr_t stack_low;

int np_stack_register(void)
{
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) != 0)
		return -1;
	void *addr;
	size_t size;
	int rc = pthread_attr_getstack(&attr, &addr, &size);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		return -1;
	stack_low = (uintptr_t)addr;
	return 0;
}

__attribute__((noinline)) void np_stack_release(void)
{
	if (!stack_low)
		return;
	volatile char here = 0;
	const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	const uintptr_t top = (((uintptr_t)&here) - KEEP_BELOW) & ~(page - 1);
	/* The stack's low end is page aligned; the guard is below it. */
	if (top <= stack_low)
		return;
	(void)madvise((void *)stack_low, top - stack_low, MADV_DONTNEED); /* advice: nothing to do if refused */
}

int np_stack_idle_recv(int fd)
{
	const struct timeval tv = { .tv_sec = NP_STACK_IDLE_MS / 1000, .tv_usec = NP_STACK_IDLE_MS % 1000 * 1000 };
	return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}
