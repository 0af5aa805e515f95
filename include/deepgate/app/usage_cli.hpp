#pragma once
// deepgate usage [--owner X] [--key ID] [--from D --to D] [--json]: a running gateway's usage
// records, read from its admin listener (GET /admin/usage), as a table or as JSON.
namespace deepgate::app {

int usage_main(int argc, char** argv);  // argv[0] is "usage"

}  // namespace deepgate::app
