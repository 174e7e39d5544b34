#ifndef DEKMS_TESTS_TESTDATA_GOLDEN_BLOB_H_
#define DEKMS_TESTS_TESTDATA_GOLDEN_BLOB_H_

#include <string_view>

namespace dekms::testing {

// A version 1 blob written by an independent implementation of the format
// (Python's struct module and the cryptography package's AESGCM): DEK ID
// "golden-disk", DEK bytes 00..1f, local KEK bytes 40..5f, nonce 11 x 12.
// Tests that read it fail when the blob format changes, which needs a new
// format version.
inline constexpr std::string_view kGoldenBlobHex =
    "444b4d42010100000020bf4533ba256e8935056c6f63616c0027736861323536"
    "3a64396465333165316434376136656635373632346135653230393035366534"
    "6600000000003c111111111111111111111111fbeca71aabe278c4631cfc435e"
    "2405d726c60f1dd3e31dd973ff980bedbf3c8c61ea6dbda06e27b0f96907a491"
    "d9dd13";
inline constexpr std::string_view kGoldenBlobDekId = "golden-disk";
inline constexpr std::string_view kGoldenBlobKeyId =
    "sha256:d9de31e1d47a6ef57624a5e209056e4f";

}  // namespace dekms::testing

#endif  // DEKMS_TESTS_TESTDATA_GOLDEN_BLOB_H_
