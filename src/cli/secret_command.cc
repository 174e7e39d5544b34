#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/cli/commands.h"
#include "src/cli/master_secret_file.h"
#include "src/cli/output.h"
#include "src/crypto/encoding.h"
#include "src/kek/local_kek_provider.h"

namespace dekms::internal {

absl::Status RunSecretGenerate(const SecretGenerateOptions& options,
                               int out_fd) {
  DEKMS_ASSIGN_OR_RETURN(ClusterKmsConfig secret, GenerateMasterSecret());
  const absl::Status written = WriteMasterSecretFile(options.out_path, secret);
  if (written.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(StrCat(
        options.out_path,
        " already exists; dekms never overwrites a master secret, so move the "
        "file away or choose another --out"));
  }
  DEKMS_RETURN_IF_ERROR(written);

  if (options.print_uri) {
    const KmsConfig config(std::move(secret));
    const SecretBytes uri = EncodeKmsUri(config);
    DEKMS_RETURN_IF_ERROR(WriteToFd(out_fd, uri.Reveal()));
    DEKMS_RETURN_IF_ERROR(WriteToFd(out_fd, "\n"));
  }
  return absl::OkStatus();
}

absl::Status RunKekGenerate(const KekGenerateOptions& options) {
  return GenerateLocalKekFile(options.out_path);
}

absl::Status RunKekFingerprint(const std::string& path, int out_fd) {
  DEKMS_ASSIGN_OR_RETURN(std::unique_ptr<LocalKekProvider> kek,
                         LocalKekProvider::Create(path));
  DEKMS_RETURN_IF_ERROR(WriteToFd(out_fd, kek->KeyId()));
  return WriteToFd(out_fd, "\n");
}

}  // namespace dekms::internal
