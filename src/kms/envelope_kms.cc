#include "src/kms/envelope_kms.h"

#include "absl/synchronization/notification.h"
#include "src/base/quote.h"
#include "src/base/status_macros.h"
#include "src/base/str_cat.h"
#include "src/crypto/aead.h"
#include "src/crypto/random.h"
#include "src/kms/blob.h"

namespace dekms::internal {
namespace {

// Keeps the code of `status` and puts `context` before its message.
absl::Status WithContext(const absl::Status& status, std::string_view context) {
  return absl::Status(status.code(), StrCat(context, ": ", status.message()));
}

absl::Status LengthMismatch(std::string_view dek_id, size_t stored_bytes,
                            size_t requested_bytes) {
  return absl::FailedPreconditionError(StrCat(
      "DEK ID ", Quote(dek_id), " exists with a length of ", stored_bytes,
      " bytes, but ", requested_bytes, " bytes were requested; request ",
      stored_bytes, " bytes or use another ID"));
}

}  // namespace

// One backend round trip for an ID, shared by every caller that asks for
// that ID while it runs.
struct EnvelopeKms::Flight {
  absl::Notification done;
  absl::StatusOr<SecretBytes> result = absl::UnknownError("not finished");
};

absl::StatusOr<std::unique_ptr<EnvelopeKms>> EnvelopeKms::Create(
    std::shared_ptr<KekProvider> kek, std::shared_ptr<Store> store,
    EnvelopeKmsOptions options) {
  if (kek == nullptr || store == nullptr) {
    return absl::InvalidArgumentError(
        "the envelope KMS needs both a KEK provider and a store");
  }
  if (options.cache_ttl > absl::ZeroDuration() &&
      options.cache_max_entries == 0) {
    return absl::InvalidArgumentError(
        "DEK cache has a time-to-live but a maximum of 0 entries; set both, "
        "or set the time-to-live to 0 to turn the cache off");
  }
  if (!options.clock) {
    options.clock = [] { return absl::Now(); };
  }
  return std::unique_ptr<EnvelopeKms>(
      new EnvelopeKms(std::move(kek), std::move(store), std::move(options)));
}

EnvelopeKms::EnvelopeKms(std::shared_ptr<KekProvider> kek,
                         std::shared_ptr<Store> store,
                         EnvelopeKmsOptions options)
    : kek_(std::move(kek)),
      store_(std::move(store)),
      options_(std::move(options)) {}

absl::StatusOr<SecretBytes> EnvelopeKms::GetDek(std::string_view dek_id_view,
                                                size_t length_bytes) {
  DEKMS_RETURN_IF_ERROR(ValidateDekRequest(dek_id_view, length_bytes));
  const std::string dek_id(dek_id_view);

  if (CacheEnabled()) {
    bool hit = false;
    absl::StatusOr<SecretBytes> cached = FromCache(dek_id, length_bytes, &hit);
    if (hit) {
      return cached;
    }
  }

  // Join the round trip already under way for this ID, or lead a new one.
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&flights_mu_);
    auto [it, inserted] = flights_.try_emplace(dek_id);
    if (inserted) {
      it->second = std::make_shared<Flight>();
      leader = true;
    }
    flight = it->second;
  }
  if (leader) {
    flight->result = LoadOrCreate(dek_id, length_bytes);
    if (flight->result.ok() && CacheEnabled()) {
      AddToCache(dek_id, *flight->result);
    }
    {
      absl::MutexLock lock(&flights_mu_);
      flights_.erase(dek_id);
    }
    flight->done.Notify();
  } else {
    flight->done.WaitForNotification();
  }

  // Every caller gets its own copy; the shared one is wiped with the flight.
  if (!flight->result.ok()) {
    return flight->result.status();
  }
  if (flight->result->size() != length_bytes) {
    return LengthMismatch(dek_id, flight->result->size(), length_bytes);
  }
  return flight->result->Clone();
}

absl::StatusOr<SecretBytes> EnvelopeKms::LoadOrCreate(const std::string& dek_id,
                                                      size_t length_bytes) {
  // Read the blob. Only a definite NotFound may lead to a new DEK.
  absl::StatusOr<std::string> stored = store_->Get(dek_id);
  if (stored.ok()) {
    return Open(*stored, dek_id, length_bytes);
  }
  if (stored.status().code() != absl::StatusCode::kNotFound) {
    return WithContext(stored.status(),
                       StrCat("read the blob of DEK ID ", Quote(dek_id),
                              " from ", store_->Kind(), " store"));
  }

  // Create a DEK, wrap it and write it create-only.
  DEKMS_ASSIGN_OR_RETURN(SecretBytes dek, RandomSecretBytes(length_bytes));
  DEKMS_ASSIGN_OR_RETURN(std::string blob, Seal(dek, dek_id));
  const absl::Status created = store_->Create(dek_id, blob);
  if (created.ok()) {
    return dek;
  }
  if (created.code() != absl::StatusCode::kAlreadyExists) {
    return WithContext(
        created, StrCat("write the new blob of DEK ID ", Quote(dek_id), " to ",
                        store_->Kind(), " store"));
  }

  // Another writer won the race: discard this DEK and use the stored one.
  absl::StatusOr<std::string> winner = store_->Get(dek_id);
  if (!winner.ok()) {
    return WithContext(winner.status(),
                       StrCat("read the blob of DEK ID ", Quote(dek_id),
                              " after a concurrent create"));
  }
  return Open(*winner, dek_id, length_bytes);
}

absl::StatusOr<std::string> EnvelopeKms::Seal(const SecretBytes& dek,
                                              const std::string& dek_id) {
  Blob blob;
  blob.header.algorithm = kek_->BindsAssociatedData()
                              ? BlobAlgorithm::kKekAead
                              : BlobAlgorithm::kLocalAeadLayer;
  blob.header.dek_length = static_cast<uint32_t>(dek.size());
  blob.header.id_digest = BlobIdDigest(dek_id);
  blob.header.provider = std::string(kek_->Kind());
  blob.header.key_id = kek_->KeyId();
  const std::string associated_data = BlobAssociatedData(blob.header, dek_id);

  if (blob.header.algorithm == BlobAlgorithm::kKekAead) {
    DEKMS_ASSIGN_OR_RETURN(KekProvider::Wrapped wrapped,
                           kek_->Wrap(dek, AsBytes(associated_data)));
    blob.wrapped = std::move(wrapped.ciphertext);
    blob.key_version = std::move(wrapped.key_version);
  } else {
    // The provider cannot bind associated data, so a one-time key seals the
    // DEK with it, and the provider wraps only the one-time key.
    DEKMS_ASSIGN_OR_RETURN(SecretBytes layer_key,
                           RandomSecretBytes(kAes256GcmKeyBytes));
    DEKMS_ASSIGN_OR_RETURN(blob.layer,
                           Aes256GcmSeal(layer_key.Reveal(), dek.Reveal(),
                                         AsBytes(associated_data)));
    DEKMS_ASSIGN_OR_RETURN(KekProvider::Wrapped wrapped,
                           kek_->Wrap(layer_key, {}));
    blob.wrapped = std::move(wrapped.ciphertext);
    blob.key_version = std::move(wrapped.key_version);
  }
  return SerializeBlob(blob);
}

absl::StatusOr<SecretBytes> EnvelopeKms::Open(std::string_view blob_bytes,
                                              const std::string& dek_id,
                                              size_t length_bytes) {
  const std::string subject = StrCat("blob of DEK ID ", Quote(dek_id));

  // Parse the blob and check that it belongs to this ID and KEK.
  absl::StatusOr<Blob> blob = ParseBlob(blob_bytes);
  if (!blob.ok()) {
    return WithContext(blob.status(), subject);
  }
  if (blob->header.id_digest != BlobIdDigest(dek_id)) {
    return absl::DataLossError(
        StrCat(subject,
               " was written for another DEK ID; it was copied or moved in the "
               "store, and no key is returned"));
  }
  if (blob->header.provider != kek_->Kind() ||
      blob->header.key_id != kek_->KeyId()) {
    return absl::FailedPreconditionError(
        StrCat(subject, " was wrapped by the ", blob->header.provider, " KEK ",
               Quote(blob->header.key_id), ", but the configured KEK is the ",
               kek_->Kind(), " KEK ", Quote(kek_->KeyId()),
               "; configure the KEK that wrote it"));
  }

  // Unwrap with the associated data that binds ID, length and header.
  const std::string associated_data = BlobAssociatedData(blob->header, dek_id);
  absl::StatusOr<SecretBytes> dek;
  if (blob->header.algorithm == BlobAlgorithm::kKekAead) {
    dek = kek_->Unwrap(blob->wrapped, blob->key_version,
                       AsBytes(associated_data));
  } else {
    absl::StatusOr<SecretBytes> layer_key =
        kek_->Unwrap(blob->wrapped, blob->key_version, {});
    dek = layer_key.ok() ? Aes256GcmOpen(layer_key->Reveal(), blob->layer,
                                         AsBytes(associated_data))
                         : layer_key.status();
  }
  if (dek.status().code() == absl::StatusCode::kDataLoss) {
    return absl::DataLossError(StrCat(
        subject,
        " failed authentication: it was altered or corrupted, and no key is "
        "returned"));
  }
  if (!dek.ok()) {
    return WithContext(dek.status(), StrCat("unwrap the ", subject));
  }
  if (dek->size() != blob->header.dek_length) {
    return absl::DataLossError(
        StrCat(subject, " holds a DEK of ", dek->size(), " bytes, not the ",
               blob->header.dek_length, " in its header"));
  }

  // Only now, with the blob authenticated, is its length trusted.
  if (blob->header.dek_length != length_bytes) {
    return LengthMismatch(dek_id, blob->header.dek_length, length_bytes);
  }
  return dek;
}

absl::StatusOr<SecretBytes> EnvelopeKms::FromCache(const std::string& dek_id,
                                                   size_t length_bytes,
                                                   bool* hit) {
  absl::MutexLock lock(&cache_mu_);
  auto it = cache_.find(dek_id);
  if (it == cache_.end()) {
    *hit = false;
    return absl::NotFoundError("not cached");
  }
  if (options_.clock() >= it->second.expiry) {
    cache_order_.erase(it->second.order);
    cache_.erase(it);  // Wipes the DEK.
    *hit = false;
    return absl::NotFoundError("expired");
  }
  *hit = true;
  if (it->second.dek.size() != length_bytes) {
    return LengthMismatch(dek_id, it->second.dek.size(), length_bytes);
  }
  return it->second.dek.Clone();
}

void EnvelopeKms::AddToCache(const std::string& dek_id,
                             const SecretBytes& dek) {
  absl::MutexLock lock(&cache_mu_);
  const absl::Time expiry = options_.clock() + options_.cache_ttl;
  auto it = cache_.find(dek_id);
  if (it != cache_.end()) {
    it->second.dek = dek.Clone();
    it->second.expiry = expiry;
    return;
  }
  cache_order_.push_back(dek_id);
  cache_.emplace(dek_id, CacheEntry{.dek = dek.Clone(),
                                    .expiry = expiry,
                                    .order = std::prev(cache_order_.end())});
  while (cache_.size() > options_.cache_max_entries) {
    cache_.erase(cache_order_.front());  // Wipes the evicted DEK.
    cache_order_.pop_front();
  }
}

}  // namespace dekms::internal
