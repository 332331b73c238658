// A small HTTP/1.1 server on loopback for registry client tests: each request
// goes to a handler that returns a response, optionally with a fault (cut the
// connection or stall after N body bytes). Requests are logged for assertions.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace vmimage::testing {

struct FakeRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct FakeResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Large bodies are shared, not copied: `shared` from byte `offset` replaces `body`.
  std::shared_ptr<const std::string> shared;
  size_t offset = 0;
  std::optional<size_t> cut_after;    // close the connection after this many body bytes
  std::optional<size_t> stall_after;  // send nothing more after this many, until the server stops
  std::chrono::milliseconds body_delay{0};  // between the headers and the body
  std::chrono::milliseconds trickle{0};     // when set: the body one byte per this interval
};

inline FakeResponse json_response(int status, std::string body,
                                  std::string type = "application/json") {
  FakeResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", std::move(type));
  return r;
}

class FakeServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeServer(Handler handler, const std::string& address = "127.0.0.1")
      : handler_(std::move(handler)), address_(address) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 64) != 0) {
      std::abort();
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~FakeServer() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mu_);  // so a stalled response cannot miss the wake-up
      if (stopping_) return;
      stopping_ = true;
    }
    stop_cv_.notify_all();
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
  }

  int port() const { return port_; }
  std::string host() const { return address_ + ":" + std::to_string(port_); }

  size_t connections() const {
    std::lock_guard lock(mu_);
    return workers_.size();
  }
  // Connections that carried at least one HTTP request (not, e.g., a TLS probe).
  size_t http_connections() const {
    std::lock_guard lock(mu_);
    return http_connections_;
  }

  std::vector<FakeRequest> requests() const {
    std::lock_guard lock(mu_);
    return log_;
  }
  size_t count(const std::string& target_part) const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(log_.begin(), log_.end(), [&](const FakeRequest& r) {
      return r.target.find(target_part) != std::string::npos;
    }));
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      int one = 1;  // headers and body go out in separate sends: no Nagle delay
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard lock(mu_);
      connections_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }

  // Reads one request; false at end of connection or on garbage (e.g. a TLS hello).
  bool read_request(int fd, std::string& pending, FakeRequest& req) {
    size_t end;
    while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
      char buf[8192];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      pending.append(buf, static_cast<size_t>(n));
      if (pending[0] < 'A' || pending[0] > 'Z' || pending.size() > (1 << 20)) return false;
    }
    std::string head = pending.substr(0, end);
    pending.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1 || line.find("HTTP/1.") == std::string::npos) {
      return false;
    }
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t next = head.find("\r\n", pos);
      if (next == std::string::npos) next = head.size();
      std::string h = head.substr(pos, next - pos);
      size_t colon = h.find(':');
      if (colon != std::string::npos) {
        std::string name = h.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
        size_t v = h.find_first_not_of(' ', colon + 1);
        req.headers[name] = v == std::string::npos ? "" : h.substr(v);
      }
      pos = next + 2;
    }
    size_t length =
        std::stoul(req.header("content-length").empty() ? "0" : req.header("content-length"));
    while (pending.size() < length) {
      char buf[8192];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return false;
      pending.append(buf, static_cast<size_t>(n));
    }
    req.body = pending.substr(0, length);
    pending.erase(0, length);
    return true;
  }

  bool send_all(int fd, const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      data += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  void serve(int fd) {
    std::string pending;
    FakeRequest req;
    bool first = true;
    while (!stopping_ && read_request(fd, pending, req)) {
      {
        std::lock_guard lock(mu_);
        log_.push_back(req);
        if (first) ++http_connections_;
        first = false;
      }
      FakeResponse resp = handler_(req);
      if (!send_response(fd, req, resp)) break;
      req = FakeRequest();
    }
    if (!pending.empty()) {
      // Not HTTP (e.g. a TLS hello): answer like a plain server would, then close.
      const char kBad[] =
          "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      send_all(fd, kBad, sizeof kBad - 1);
    }
    std::lock_guard lock(mu_);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    connections_.erase(std::find(connections_.begin(), connections_.end(), fd));
  }

  bool send_response(int fd, const FakeRequest& req, const FakeResponse& resp) {
    std::string_view body = resp.body;
    if (resp.shared) body = std::string_view(*resp.shared).substr(resp.offset);
    std::string head = "HTTP/1.1 " + std::to_string(resp.status) + " X\r\n";
    for (const auto& [k, v] : resp.headers) head += k + ": " + v + "\r\n";
    head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    if (!send_all(fd, head.data(), head.size())) return false;
    if (req.method == "HEAD") return true;
    if (resp.body_delay.count() > 0) std::this_thread::sleep_for(resp.body_delay);
    if (resp.trickle.count() > 0) return trickle(fd, body, resp.trickle);
    size_t limit = body.size();
    if (resp.cut_after) limit = std::min(limit, *resp.cut_after);
    if (resp.stall_after) limit = std::min(limit, *resp.stall_after);
    if (!send_all(fd, body.data(), limit)) return false;
    if (resp.stall_after && limit < body.size()) {
      std::unique_lock lock(mu_);
      stop_cv_.wait(lock, [this] { return stopping_.load(); });
      return false;
    }
    return limit == body.size();
  }

  // A server that never stalls yet never gets anywhere: a byte at a time.
  bool trickle(int fd, std::string_view body, std::chrono::milliseconds every) {
    for (char c : body) {
      if (!send_all(fd, &c, 1)) return false;
      std::unique_lock lock(mu_);
      if (stop_cv_.wait_for(lock, every, [this] { return stopping_.load(); })) return false;
    }
    return true;
  }

  Handler handler_;
  std::string address_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  std::vector<int> connections_;
  std::vector<std::thread> workers_;
  size_t http_connections_ = 0;
  std::vector<FakeRequest> log_;
};

}  // namespace vmimage::testing
