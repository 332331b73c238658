// Result<T>: a value or an Error, shaped like std::expected (which g++ 12 only
// offers under -std=c++2b). Use: `VMI_TRY(auto x, f());` and `return Error(...)`.
#pragma once

#include <cassert>
#include <optional>
#include <utility>
#include <variant>

#include "vmimage/error.h"

namespace vmimage {

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { assert(!ok()); return *error_; }
  Error&& error() && { assert(!ok()); return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace vmimage

#define VMI_CONCAT_INNER(a, b) a##b
#define VMI_CONCAT(a, b) VMI_CONCAT_INNER(a, b)

// Evaluates a Result<void>-returning expression; returns its error if it failed.
#define VMI_CHECK(expr)                                   \
  do {                                                    \
    auto vmi_status_ = (expr);                            \
    if (!vmi_status_.ok()) return std::move(vmi_status_).error(); \
  } while (0)

// `VMI_TRY(auto x, f())`: declares x from f()'s value, or returns its error.
#define VMI_TRY(decl, expr) VMI_TRY_IMPL(VMI_CONCAT(vmi_result_, __LINE__), decl, expr)
// `tmp` and `decl` are a name and a declaration: they cannot be parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define VMI_TRY_IMPL(tmp, decl, expr)                    \
  auto tmp = (expr);                                     \
  if (!tmp.ok()) return std::move(tmp).error();          \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
