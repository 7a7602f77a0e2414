// SPDX-License-Identifier: MIT
// config.cpp — validating a config before anything is built: each field against its rule in
// config_fields.hpp, in table order.
#include <rcufree/config.hpp>
#include <stdexcept>
#include <string>

#include "config_fields.hpp"

namespace rcufree {

std::optional<detail::config_problem> detail::first_problem(const config& cfg) {
  std::optional<config_problem> found;
  for_each_config_field([&](const auto& row) {
    if (found) return;
    std::string why = row.rule(cfg.*row.cxx, cfg);
    if (!why.empty()) found = config_problem{row.name, std::move(why)};
  });
  return found;
}

void config::validate() const {
  if (const auto problem = detail::first_problem(*this)) {
    throw std::invalid_argument(std::string("rcufree::config::") + problem->field.cxx + ": " +
                                problem->why);
  }
}

}  // namespace rcufree
