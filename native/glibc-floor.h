// Keeps the addon loadable on glibc 2.28, the oldest glibc the official Node
// binaries support.
//
// glibc 2.32 and 2.34 gave pthread_sigmask, pthread_create and the sem_*
// calls new symbol versions when libpthread moved into libc. A build on a
// newer glibc links against those versions by default, and the dynamic
// loader of an older glibc then rejects the addon. The older versions are
// the same functions, so the references are pinned to them. Include this
// before any call to the functions below.

#ifndef TS_INIT_GLIBC_FLOOR_H_
#define TS_INIT_GLIBC_FLOOR_H_

#if defined(__GLIBC__)
#if defined(__x86_64__)
#define TS_INIT_BASE_GLIBC "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define TS_INIT_BASE_GLIBC "GLIBC_2.17"
#endif
#endif

#ifdef TS_INIT_BASE_GLIBC
__asm__(".symver pthread_sigmask,pthread_sigmask@" TS_INIT_BASE_GLIBC);
__asm__(".symver pthread_create,pthread_create@" TS_INIT_BASE_GLIBC);
__asm__(".symver sem_init,sem_init@" TS_INIT_BASE_GLIBC);
__asm__(".symver sem_destroy,sem_destroy@" TS_INIT_BASE_GLIBC);
__asm__(".symver sem_post,sem_post@" TS_INIT_BASE_GLIBC);
__asm__(".symver sem_timedwait,sem_timedwait@" TS_INIT_BASE_GLIBC);
#endif

#endif  // TS_INIT_GLIBC_FLOOR_H_
