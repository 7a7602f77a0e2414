// SPDX-License-Identifier: MIT
// rcufree/atomic_scope.hpp — mark a stretch of code as an atomic context.
//
// Like the kernel's scoped allocation flags (memalloc_noio_save()/restore()), an atomic_scope
// changes what nested calls may do rather than asking every call site to pass a flag: while one
// lives on a thread, that thread promises not to sleep. rcufree then treats its own calls that
// might sleep (the head-less kvfree_rcu_mightsleep/delete_rcu_mightsleep, barrier) as misuse and
// reports them instead of letting them wait for a grace period, which inside a signal handler, a
// real-time callback or a read-side critical section could deadlock.
//
//   void on_audio_callback(node* n) {
//     rcufree::atomic_scope no_sleep;                  // nests; costs one TLS increment
//     list_del_rcu(n);
//     rcufree::kfree_rcu(n, &node::head);              // fine: never sleeps
//     rcufree::kvfree_rcu_mightsleep(other);           // misuse: reported, never deadlocks
//   }
//
// Why scoping this flag is safe (the test the kernel applies to scoped GFP flags): the scope only
// ever removes permissions from nested code (may sleep -> may not), never adds them, and no nested
// rcufree call depends on being allowed to sleep for its failure semantics: the two-argument forms
// never sleep anyway, and the sleeping forms fail loudly rather than change behaviour silently.
// A scope set on one thread says nothing about others.
#pragma once

#include <rcufree/export.hpp>

#include <stdexcept>

namespace rcufree {

namespace detail {
// Per-thread nesting depth. Plain __thread with the initial-exec model: no TLS wrapper call, and
// no lazy TLS allocation on a thread's first access (which could call malloc).
extern RCUFREE_API __thread unsigned atomic_depth __attribute__((tls_model("initial-exec")));
}  // namespace detail

class atomic_scope {
 public:
  atomic_scope() noexcept { ++detail::atomic_depth; }
  ~atomic_scope() { --detail::atomic_depth; }
  atomic_scope(const atomic_scope&) = delete;
  atomic_scope& operator=(const atomic_scope&) = delete;
};

// True while an atomic_scope lives on the calling thread. Never blocks, allocates or makes a
// system call.
inline bool in_atomic_scope() noexcept { return detail::atomic_depth != 0; }

// What rcufree does when it detects misuse in a call that may sleep (a sleeping call in an atomic
// context, a head-less object queued twice in debug builds). Misuse found by the two-argument
// forms always aborts, whatever the action: they may run in a signal handler, which an exception
// must not leave. What they find: through the C API, a head outside its object and a call on a
// destroyed engine's handle, in every build (rcufree.h); through the C++ API, only in builds with
// RCUFREE_DEBUG, a call on a destroyed engine whose memory was not yet reused and an object
// queued twice (a call on a destroyed or moved-from engine is otherwise undefined: engine.hpp).
// The report names the call; a C++ call that may sleep also names its caller's file and line
// (call_site.hpp), a C call is named as C spells it.
enum class misuse_action {
  abort,        // default: print "rcufree: <sentence>" to stderr and abort()
  throw_error,  // throw rcufree::misuse_error with the same text; the object stays the caller's
};

class RCUFREE_API misuse_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Process-wide. Returns the previous action. Safe to call at any time from any thread.
RCUFREE_API misuse_action set_misuse_action(misuse_action action) noexcept;

}  // namespace rcufree
