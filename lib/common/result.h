// The control plane's one error convention: a function that can fail returns
// result<T>, a T or an error that says where and why. Nothing here throws, so
// a module may use exceptions inside itself but returns results at its API.
// The data plane never fails this way: it returns verdicts and counts.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace ctgate {

struct error {
  // Where: the position is printed as far as it is known.
  std::string file;  // empty when the error is not about a file
  int line = 0;      // 1-based; 0 when unknown
  int col = 0;       // 1-based; 0 when unknown
  int len = 0;       // characters from `col` the error is about (quote()'s caret); 0 = one
  // Printed between the position and the message when set. nft-style
  // diagnostics carry a severity ("f.nft:3:5: error: ..."), the config loader
  // names the setting ("f.yaml:4: ports[0].mtu: ...").
  std::string severity;
  std::string key;
  std::string message;
  // Lines printed as they are after the first, e.g. the source line and a caret.
  std::vector<std::string> detail;

  // "FILE:LINE:COL: SEVERITY: KEY: MESSAGE", leaving out what is unknown or
  // empty, then each detail line after a '\n'; no trailing newline. Fields
  // are printed as they are: a producer that wants one line whatever the
  // input escapes them (the config loader does, with escape_control()).
  std::string to_string() const;

  // Adds `source_line` and a caret line under [col, col + len) to the detail,
  // the way compilers show an error's place. Nothing when the line is unknown
  // or `source_line` is empty.
  error& quote(std::string_view source_line);
};

// `s` with control characters written as \n, \t or \xHH, so that text taken
// from a file cannot break an error line in two.
std::string escape_control(std::string_view s);

template <typename T>
class result;

namespace detail {
// U can initialise a result<T>'s value: it makes a T and is not itself a
// result or an error (those have constructors of their own).
template <typename U, typename T>
concept value_source =
    std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, result<T>> &&
    !std::is_same_v<std::remove_cvref_t<U>, error>;
}  // namespace detail

// A T or an error. Cheap to move (a variant of the two); accessing the side
// that is not there is a bug, caught by assert, never an exception.
template <typename T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T> && !std::is_same_v<std::remove_cv_t<T>, ctgate::error>);

 public:
  // Implicit both ways, so a function returns either `value` or `error{...}`.
  template <detail::value_source<T> U = T>
  explicit(!std::is_convertible_v<U&&, T>) result(U&& value)
      : v_(std::in_place_index<0>, std::forward<U>(value)) {}
  result(ctgate::error e) noexcept : v_(std::in_place_index<1>, std::move(e)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return *value_ptr(); }
  const T& value() const& { return *value_ptr(); }
  T&& value() && { return std::move(*value_ptr()); }
  T& operator*() & { return *value_ptr(); }
  const T& operator*() const& { return *value_ptr(); }
  T&& operator*() && { return std::move(*value_ptr()); }
  T* operator->() { return value_ptr(); }
  const T* operator->() const { return value_ptr(); }

  const ctgate::error& error() const& { return *error_ptr(); }
  ctgate::error&& error() && { return std::move(*error_ptr()); }

 private:
  T* value_ptr() {
    assert(ok());
    return std::get_if<0>(&v_);
  }
  const T* value_ptr() const {
    assert(ok());
    return std::get_if<0>(&v_);
  }
  ctgate::error* error_ptr() {
    assert(!ok());
    return std::get_if<1>(&v_);
  }
  const ctgate::error* error_ptr() const {
    assert(!ok());
    return std::get_if<1>(&v_);
  }

  std::variant<T, ctgate::error> v_;
};

// Success with nothing to return, or an error. `return {};` succeeds.
template <>
class [[nodiscard]] result<void> {
 public:
  result() noexcept = default;
  result(ctgate::error e) noexcept : err_(std::move(e)) {}

  bool ok() const noexcept { return !err_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  void value() const noexcept { assert(ok()); }

  const ctgate::error& error() const& {
    assert(!ok());
    return *err_;
  }
  ctgate::error&& error() && {
    assert(!ok());
    return std::move(*err_);
  }

 private:
  std::optional<ctgate::error> err_;
};

}  // namespace ctgate
