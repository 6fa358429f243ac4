/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h - the entry point every fuzz target defines: libFuzzer's
 * (`make fuzz`, clang) or fuzz/replay.c's, which runs a corpus through it
 * in `make test` with any compiler.
 */
#ifndef NP_FUZZ_H
#define NP_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
