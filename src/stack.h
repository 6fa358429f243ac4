/* SPDX-License-Identifier: ISC */
/*
 * stack.h - giving a waiting thread's unused stack pages back to the
 * kernel.  A connection thread's stack is touched deep once (the TLS
 * handshake runs GnuTLS, nettle and GMP several pages down) and then
 * stays resident for as long as the session lives, though an idle session
 * waits in a frame near the top.  A thread that has waited
 * NP_STACK_IDLE_MS without anything to do releases every page below its
 * frame (MADV_DONTNEED: the kernel gives fresh zero pages on the next
 * touch), so an idle session costs its top pages only.  Only threads that
 * registered release; any other caller (npcat, a module's own thread) is
 * left as it is.
 */
#ifndef NP_STACK_H
#define NP_STACK_H

/* How long a wait lasts before the stack is released, and so how long
 * a busy session can wait without a system call more. */
#define NP_STACK_IDLE_MS 1000

/* Marks the calling thread's stack as releasable: its bounds are looked
 * up once.  Returns 0, or -1 when they cannot be (then nothing is ever
 * released for this thread). */
int np_stack_register(void);

/* Bounds a blocking recv() on fd by NP_STACK_IDLE_MS (SO_RCVTIMEO), so
 * that a reader learns it is idle ("again") and can release.  0, or -1
 * with errno (then the reader waits in recv(): correct, only larger). */
int np_stack_idle_recv(int fd);

/* Releases the pages of the calling thread's stack below its caller's
 * frame, keeping a margin for the calls that follow; nothing for a thread
 * that did not register. */
void np_stack_release(void);

#endif
