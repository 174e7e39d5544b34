#include "src/base/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace dekms::internal {

void ConfigureLogging(std::string_view level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("dekms", sink));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %v",
                      spdlog::pattern_time_type::utc);
  const spdlog::level::level_enum parsed =
      spdlog::level::from_str(std::string(level));
  spdlog::set_level(parsed == spdlog::level::off ? spdlog::level::info
                                                 : parsed);
  spdlog::flush_on(spdlog::level::trace);
}

}  // namespace dekms::internal
