/*
 * Test-only shim for Wine < 8.13: Rust >= 1.78's std imports ProcessPrng from
 * bcryptprimitives.dll (rust-lang/rust#121337), which Wine 8.0 (Debian 12) lacks, so every
 * Rust .exe fails to load there. This DLL exports ProcessPrng over advapi32's RtlGenRandom
 * (exported as SystemFunction036). It is copied into the Wine prefix by .ci/windows and is
 * never shipped: real Windows (10+) has bcryptprimitives.dll.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

/* BOOLEAN RtlGenRandom(PVOID RandomBuffer, ULONG RandomBufferLength) */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): documented to always return TRUE. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
