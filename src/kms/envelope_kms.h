#ifndef DEKMS_SRC_KMS_ENVELOPE_KMS_H_
#define DEKMS_SRC_KMS_ENVELOPE_KMS_H_

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dekms/kek_provider.h"
#include "dekms/key_manager.h"
#include "dekms/store.h"

namespace dekms::internal {

struct EnvelopeKmsOptions {
  // How long an unwrapped DEK stays in the in-process cache. Default: zero,
  // which turns the cache off.
  absl::Duration cache_ttl = absl::ZeroDuration();
  // Maximum number of cached DEKs; the oldest entry is evicted first.
  // Default: 1024. Used only when cache_ttl is positive.
  size_t cache_max_entries = 1024;
  // Clock for cache expiry. Default (empty): absl::Now.
  std::function<absl::Time()> clock;
};

// KeyManager for external KMSs: DEKs are random, wrapped by a KEK provider,
// and stored as blobs (see blob.h) in a Store.
//
// Safety rules:
// - A DEK is created only after the store reports NotFound for its ID. Any
//   other read error is returned as it is and never leads to a new DEK.
// - Creation is a create-only write. When it loses a race (AlreadyExists),
//   the new DEK is discarded and the stored one is returned, so every caller
//   of an ID gets the same bytes. A DEK is handed out only after the store
//   confirmed its write.
// - A blob is bound to its ID and length by associated data. A blob that
//   was altered or copied to another ID fails with kDataLoss.
// - Asking for an existing ID with another length is kFailedPrecondition.
//
// Concurrent calls for one ID in this process share one backend round trip;
// calls for different IDs run in parallel. Thread-safe.
class EnvelopeKms final : public KeyManager {
 public:
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<EnvelopeKms>> Create(
      std::shared_ptr<KekProvider> kek, std::shared_ptr<Store> store,
      EnvelopeKmsOptions options);

  absl::StatusOr<SecretBytes> GetDek(std::string_view dek_id,
                                     size_t length_bytes) override;
  std::string_view Kind() const override { return "envelope"; }

 private:
  struct Flight;
  struct CacheEntry {
    SecretBytes dek;
    absl::Time expiry;
    std::list<std::string>::iterator order;
  };

  EnvelopeKms(std::shared_ptr<KekProvider> kek, std::shared_ptr<Store> store,
              EnvelopeKmsOptions options);

  // Reads, or creates, the DEK of `dek_id`: one backend round trip.
  absl::StatusOr<SecretBytes> LoadOrCreate(const std::string& dek_id,
                                           size_t length_bytes);
  absl::StatusOr<SecretBytes> Open(std::string_view blob_bytes,
                                   const std::string& dek_id,
                                   size_t length_bytes);
  absl::StatusOr<std::string> Seal(const SecretBytes& dek,
                                   const std::string& dek_id);

  bool CacheEnabled() const {
    return options_.cache_ttl > absl::ZeroDuration();
  }
  absl::StatusOr<SecretBytes> FromCache(const std::string& dek_id,
                                        size_t length_bytes, bool* hit);
  void AddToCache(const std::string& dek_id, const SecretBytes& dek);

  const std::shared_ptr<KekProvider> kek_;
  const std::shared_ptr<Store> store_;
  const EnvelopeKmsOptions options_;

  absl::Mutex flights_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_
      ABSL_GUARDED_BY(flights_mu_);

  absl::Mutex cache_mu_;
  absl::flat_hash_map<std::string, CacheEntry> cache_
      ABSL_GUARDED_BY(cache_mu_);
  std::list<std::string> cache_order_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace dekms::internal

#endif  // DEKMS_SRC_KMS_ENVELOPE_KMS_H_
