#include "dekms/secret_bytes.h"

#include <cstdlib>
#include <new>
#include <string_view>
#include <type_traits>

#include "gtest/gtest.h"

// This test binary replaces the array forms of operator new and delete, so
// that a test can look at a SecretBytes buffer at the moment it is freed and
// prove that it was wiped first.
namespace {

const void* g_watched = nullptr;
size_t g_watched_size = 0;
int g_watched_frees = 0;
bool g_watched_was_zero = false;

void InspectBeforeFree(void* pointer) {
  if (pointer == nullptr || pointer != g_watched) {
    return;
  }
  const auto* bytes = static_cast<const unsigned char*>(pointer);
  g_watched_was_zero = true;
  for (size_t i = 0; i < g_watched_size; ++i) {
    g_watched_was_zero = g_watched_was_zero && bytes[i] == 0;
  }
  ++g_watched_frees;
  g_watched = nullptr;
}

void Watch(const dekms::SecretBytes& secret) {
  g_watched = secret.Reveal().data();
  g_watched_size = secret.size();
  g_watched_frees = 0;
  g_watched_was_zero = false;
}

}  // namespace

void* operator new[](size_t size) {
  void* pointer = std::malloc(size == 0 ? 1 : size);
  if (pointer == nullptr) throw std::bad_alloc();
  return pointer;
}
void operator delete[](void* pointer) noexcept {
  InspectBeforeFree(pointer);
  std::free(pointer);
}
void operator delete[](void* pointer, size_t /*size*/) noexcept {
  InspectBeforeFree(pointer);
  std::free(pointer);
}

namespace dekms {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);

TEST(SecretBytes, DestructorWipesBeforeFree) {
  {
    const SecretBytes secret = SecretBytes::CopyFrom("key material");
    Watch(secret);
  }
  EXPECT_EQ(g_watched_frees, 1);
  EXPECT_TRUE(g_watched_was_zero);
}

TEST(SecretBytes, MoveAssignmentWipesReplacedBytes) {
  SecretBytes secret = SecretBytes::CopyFrom("old key material");
  Watch(secret);
  secret = SecretBytes::CopyFrom("new");
  EXPECT_EQ(g_watched_frees, 1);
  EXPECT_TRUE(g_watched_was_zero);
  EXPECT_EQ(secret.size(), 3u);
}

TEST(SecretBytes, MoveHandsOverWithoutCopy) {
  SecretBytes source = SecretBytes::CopyFrom("abc");
  const uint8_t* bytes = source.Reveal().data();
  SecretBytes target = std::move(source);
  EXPECT_EQ(target.Reveal().data(), bytes);
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_TRUE(source.empty());
  // NOLINTNEXTLINE(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_TRUE(source.Reveal().empty());
  Watch(target);
  target = SecretBytes();
  EXPECT_TRUE(g_watched_was_zero);
}

TEST(SecretBytes, CloneIsDeepCopy) {
  const SecretBytes original = SecretBytes::CopyFrom("abc");
  SecretBytes clone = original.Clone();
  EXPECT_TRUE(original.Equals(clone));
  EXPECT_NE(original.Reveal().data(), clone.Reveal().data());
  clone.Reveal()[0] = 'x';
  EXPECT_FALSE(original.Equals(clone));
}

TEST(SecretBytes, EqualsComparesContentAndSize) {
  EXPECT_TRUE(
      SecretBytes::CopyFrom("abc").Equals(SecretBytes::CopyFrom("abc")));
  EXPECT_FALSE(
      SecretBytes::CopyFrom("abc").Equals(SecretBytes::CopyFrom("abd")));
  EXPECT_FALSE(
      SecretBytes::CopyFrom("abc").Equals(SecretBytes::CopyFrom("ab")));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes(0)));
}

TEST(SecretBytes, SizedConstructorZeroes) {
  const SecretBytes secret(16);
  ASSERT_EQ(secret.size(), 16u);
  for (const uint8_t byte : secret.Reveal()) {
    EXPECT_EQ(byte, 0);
  }
}

TEST(SecretBytes, CopyFromEmpty) {
  EXPECT_TRUE(SecretBytes::CopyFrom(std::string_view()).empty());
}

}  // namespace
}  // namespace dekms
