#pragma once
// deepgate keys create|list|show|revoke|rotate: manages the embedded key store (the keys file).
// A running gateway picks changes up within a second (it watches the file) or on SIGHUP.
namespace deepgate::app {

int keys_main(int argc, char** argv);  // argv[0] is "keys"

}  // namespace deepgate::app
