#pragma once
// The shared key store in Redis. Layout (values are key records: digests, never key values):
//   deepgate:key:<id>      one record, JSON
//   deepgate:keys:ids      set of ids
//   deepgate:keys:version  bumped by every change (one script with the change itself)
//   deepgate:keys:epoch    random, set by the first write to an empty store
// In Redis Cluster mode the same keys carry one hash tag so they share a slot:
// {deepgate:keys}:key:<id>, {deepgate:keys}:ids, {deepgate:keys}:version, {deepgate:keys}:epoch.
// Replicas poll "epoch:version" and reload all records when it changes; the epoch tells a Redis
// that restarted empty (its version counts from 1 again) from the one they synced with.
#include "deepgate/auth/key.hpp"
#include "deepgate/redis/connection.hpp"

#include <optional>
#include <vector>

namespace deepgate::auth::redis_store {

// nullopt when Redis is unavailable or answers oddly.
boost::asio::awaitable<std::optional<std::string>> version(redis::connection& c);
boost::asio::awaitable<std::optional<std::vector<client_key>>> load_all(redis::connection& c);
boost::asio::awaitable<std::optional<client_key>> load(redis::connection& c, std::string id);
// Writes records and bumps the version, atomically. False when Redis refused or is down.
boost::asio::awaitable<bool> put(redis::connection& c, std::vector<client_key> records);

}  // namespace deepgate::auth::redis_store
