// Clang's thread-safety analysis for the control plane's locks
// (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html): a field marked
// CTGATE_GUARDED_BY(mu) may be touched only with `mu` held, and a function
// marked CTGATE_REQUIRES(mu) only called so. GCC ignores the attributes;
// tests/build/test_thread_safety.py compiles lib/ with clang's
// -Wthread-safety and fails on any violation. The workers take no locks.
#pragma once

#include <mutex>

#if defined(__clang__)
#define CTGATE_TSA(x) __attribute__((x))
#else
#define CTGATE_TSA(x)
#endif

#define CTGATE_CAPABILITY(name) CTGATE_TSA(capability(name))
#define CTGATE_SCOPED_CAPABILITY CTGATE_TSA(scoped_lockable)
#define CTGATE_GUARDED_BY(mu) CTGATE_TSA(guarded_by(mu))
#define CTGATE_PT_GUARDED_BY(mu) CTGATE_TSA(pt_guarded_by(mu))
#define CTGATE_REQUIRES(...) CTGATE_TSA(requires_capability(__VA_ARGS__))
#define CTGATE_EXCLUDES(...) CTGATE_TSA(locks_excluded(__VA_ARGS__))
#define CTGATE_ACQUIRE(...) CTGATE_TSA(acquire_capability(__VA_ARGS__))
#define CTGATE_RELEASE(...) CTGATE_TSA(release_capability(__VA_ARGS__))
#define CTGATE_NO_THREAD_SAFETY_ANALYSIS CTGATE_TSA(no_thread_safety_analysis)

namespace ctgate {

// std::mutex with the capability attribute (libstdc++'s is not annotated).
class CTGATE_CAPABILITY("mutex") mutex {
 public:
  void lock() CTGATE_ACQUIRE() { mu_.lock(); }
  void unlock() CTGATE_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// std::lock_guard for ctgate::mutex, visible to the analysis.
class CTGATE_SCOPED_CAPABILITY lock_guard {
 public:
  explicit lock_guard(mutex& mu) CTGATE_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~lock_guard() CTGATE_RELEASE() { mu_.unlock(); }
  lock_guard(const lock_guard&) = delete;
  lock_guard& operator=(const lock_guard&) = delete;

 private:
  mutex& mu_;
};

}  // namespace ctgate
