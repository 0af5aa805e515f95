// deepgate: an OpenAI-compatible gateway in front of DeepSeek and self-hosted models.
#include "deepgate/app/cli.hpp"

int main(int argc, char** argv) { return deepgate::app::main(argc, argv); }
