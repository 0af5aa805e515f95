// The one translation unit that compiles Asio (and Asio's SSL support); every other unit
// sees BOOST_ASIO_SEPARATE_COMPILATION and only declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
