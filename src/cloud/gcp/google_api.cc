#include "src/cloud/gcp/google_api.h"

#include <string>

#include "src/cloud/secret_json.h"

namespace dekms::internal {
namespace {

std::string Text(const WipingString* value) {
  return value == nullptr ? std::string()
                          : std::string(value->data(), value->size());
}

}  // namespace

GoogleApiError ParseGoogleApiError(const HttpResponse& response) {
  GoogleApiError error;
  const SecretJson body = ParseSecretJson(response.BodyText());
  const auto nested =
      body.is_object() ? body.find("error") : SecretJson::const_iterator();
  if (!body.is_object() || nested == body.end() || !nested->is_object()) {
    // Media downloads reply in short plain text, such as "Not Found". Other
    // bodies (an HTML page from a proxy, say) are left out of messages.
    const std::string* type = response.FindHeader("content-type");
    const bool short_text = type != nullptr &&
                            type->starts_with("text/plain") &&
                            response.BodyText().size() <= 200;
    if (!body.is_object()) {
      error.message = short_text ? std::string(response.BodyText())
                                 : "the reply is not a Google JSON error";
    }
    return error;
  }
  error.status = Text(FindString(*nested, "status"));
  error.message = Text(FindString(*nested, "message"));
  if (const auto errors = nested->find("errors");
      errors != nested->end() && errors->is_array() && !errors->empty()) {
    error.reason = Text(FindString(errors->front(), "reason"));
  }
  return error;
}

absl::Status GoogleApiErrorToStatus(const HttpResponse& response,
                                    const GoogleApiError& error,
                                    std::string_view service,
                                    std::string_view operation,
                                    std::optional<absl::StatusCode> code) {
  ProviderError provider_error;
  provider_error.service = std::string(service);
  provider_error.operation = std::string(operation);
  provider_error.http_status = response.status;
  provider_error.code = !error.status.empty() ? error.status : error.reason;
  provider_error.message = error.message;
  if (const std::string* id = response.FindHeader("x-guploader-uploadid")) {
    provider_error.request_id = *id;
  }
  return ProviderErrorToStatus(provider_error, code);
}

}  // namespace dekms::internal
