#ifndef DEKMS_SRC_BASE_STATUS_MACROS_H_
#define DEKMS_SRC_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Propagation macros with the names and shapes of Abseil's newer
// ABSL_RETURN_IF_ERROR and ABSL_ASSIGN_OR_RETURN, which the Abseil in Debian 12
// (20220623) does not have. They are the only control-flow macros in dekms.

// Evaluates `expr`, an absl::Status, and returns it from the enclosing
// function when it is not OK.
#define DEKMS_RETURN_IF_ERROR(expr)                    \
  do {                                                 \
    ::absl::Status dekms_status_macro_status = (expr); \
    if (!dekms_status_macro_status.ok()) {             \
      return dekms_status_macro_status;                \
    }                                                  \
  } while (false)

// Evaluates `rexpr`, an absl::StatusOr<T>. Returns its status from the
// enclosing function when it is not OK; otherwise moves the value into `lhs`,
// which may be a declaration such as `auto x` or an existing variable.
#define DEKMS_ASSIGN_OR_RETURN(lhs, rexpr) \
  DEKMS_ASSIGN_OR_RETURN_IMPL_(            \
      DEKMS_STATUS_MACROS_CONCAT_(dekms_statusor_, __COUNTER__), lhs, rexpr)

// `lhs` stays unparenthesised because it may be a declaration.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define DEKMS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) {                                    \
    return std::move(statusor).status();                   \
  }                                                        \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#define DEKMS_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define DEKMS_STATUS_MACROS_CONCAT_(a, b) \
  DEKMS_STATUS_MACROS_CONCAT_INNER_(a, b)

#endif  // DEKMS_SRC_BASE_STATUS_MACROS_H_
