// Reads HKDF cases from stdin, one per line as four fields separated by
// spaces: hex IKM, hex salt, hex info, decimal length. An empty field is
// written as "-". Prints one line per case: the hex output of dekms's
// HKDF-SHA256 and, when the IKM and salt are valid for ClusterKms, the hex
// output of ClusterKms::GetDek, separated by a space ("-" otherwise).

#include <iostream>
#include <sstream>
#include <string>

#include "dekms/cluster_kms.h"
#include "src/crypto/encoding.h"
#include "src/crypto/hkdf.h"

namespace {

dekms::SecretBytes FromHex(const std::string& field) {
  if (field == "-") return dekms::SecretBytes();
  auto bytes = dekms::internal::DecodeHex(field, "input");
  if (!bytes.ok()) {
    std::cerr << bytes.status() << "\n";
    std::exit(2);
  }
  return std::move(bytes).value();
}

std::string ToHex(const dekms::SecretBytes& bytes) {
  return std::string(dekms::internal::RevealAsText(
      dekms::internal::EncodeHex(bytes.Reveal())));
}

}  // namespace

int main() {
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream fields(line);
    std::string ikm_hex, salt_hex, info_hex;
    size_t length = 0;
    if (!(fields >> ikm_hex >> salt_hex >> info_hex >> length)) {
      std::cerr << "malformed line\n";
      return 2;
    }
    const dekms::SecretBytes ikm = FromHex(ikm_hex);
    const dekms::SecretBytes salt = FromHex(salt_hex);
    const dekms::SecretBytes info = FromHex(info_hex);

    auto hkdf =
        dekms::internal::HkdfSha256::Create(ikm.Reveal(), salt.Reveal());
    dekms::SecretBytes out(length);
    if (!hkdf.ok() || !hkdf->Expand(info.Reveal(), out.Reveal()).ok()) {
      std::cerr << "HKDF failed\n";
      return 1;
    }
    std::cout << ToHex(out) << " ";

    auto kms = dekms::ClusterKms::Create(ikm, salt);
    const std::string_view id(
        reinterpret_cast<const char*>(info.Reveal().data()), info.size());
    if (kms.ok() && !id.empty()) {
      auto dek = (*kms)->GetDek(id, length);
      std::cout << (dek.ok() ? ToHex(*dek) : "error");
    } else {
      std::cout << "-";
    }
    std::cout << "\n";
  }
  return 0;
}
