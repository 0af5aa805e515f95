#pragma once
// Command-line entry: deepgate [--config FILE] | --check-config FILE | --version | --help.
namespace deepgate::app {

int main(int argc, char** argv);

}  // namespace deepgate::app
