// SQLite RAII wrappers (see sqlite.h).
#include "store/sqlite.h"

#include <utility>

namespace vmimage::store_detail {

Db::Db(Db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Db& Db::operator=(Db&& other) noexcept {
  if (this != &other) {
    if (db_ != nullptr) sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Db::~Db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

Result<Db> Db::open(const std::string& path, bool read_only) {
  Db db;
  db.path_ = path;
  int flags = SQLITE_OPEN_NOMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db.db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (db.db_ == nullptr)
      return Error(ErrorKind::kMetadata, "opening " + path + ": out of memory");
    return db.error(read_only ? ErrorKind::kStoreRead : ErrorKind::kMetadata, "opening " + path);
  }
  sqlite3_extended_result_codes(db.db_, 1);
  return db;
}

Result<Db> Db::open_immutable(const std::string& path) {
  std::string uri = "file:";
  for (unsigned char c : path) {
    if (c == '?' || c == '#' || c == '%' || c < 0x20 || c >= 0x7f) {
      char esc[4];
      snprintf(esc, sizeof esc, "%%%02X", c);
      uri += esc;
    } else {
      uri += static_cast<char>(c);
    }
  }
  uri += "?immutable=1";
  Db db;
  db.path_ = path;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_READONLY | SQLITE_OPEN_URI;
  if (sqlite3_open_v2(uri.c_str(), &db.db_, flags, nullptr) != SQLITE_OK) {
    if (db.db_ == nullptr)
      return Error(ErrorKind::kStoreRead, "opening " + path + ": out of memory");
    return db.error(ErrorKind::kStoreRead, "opening " + path);
  }
  sqlite3_extended_result_codes(db.db_, 1);
  return db;
}

Status Db::exec(std::string_view sql, ErrorKind kind) {
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    return error(kind, "executing \"" + text.substr(0, 60) + "\" on " + path_);
  }
  return {};
}

Error Db::error(ErrorKind kind, std::string_view what) const {
  std::string message(what);
  message += ": ";
  message += sqlite3_errmsg(db_);
  // The errno behind an I/O failure (ENOSPC, EROFS, EIO) says what to do about it.
  int sys = sqlite3_system_errno(db_);
  int code = sqlite3_errcode(db_);
  bool io = code == SQLITE_IOERR || code == SQLITE_FULL || code == SQLITE_CANTOPEN ||
            code == SQLITE_READONLY;
  return Error(kind, std::move(message), io ? sys : 0);
}

Statement::Statement(const Db& db, sqlite3_stmt* stmt, ErrorKind kind, std::string_view sql)
    : db_(&db), stmt_(stmt), kind_(kind), sql_(sql) {}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_),
      stmt_(std::exchange(other.stmt_, nullptr)),
      kind_(other.kind_),
      sql_(std::move(other.sql_)),
      next_param_(other.next_param_),
      bind_status_(std::move(other.bind_status_)) {}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Result<Statement> Statement::prepare(const Db& db, std::string_view sql, ErrorKind kind) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db.handle(), sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return db.error(kind, "preparing \"" + std::string(sql.substr(0, 60)) + "\"");
  }
  return Statement(db, stmt, kind, sql);
}

Statement& Statement::bind(std::string_view text) {
  int rc = sqlite3_bind_text(stmt_, next_param_++, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = db_->error(kind_, "binding a parameter");
  return *this;
}

Statement& Statement::bind(int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, next_param_++, value);
  if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = db_->error(kind_, "binding a parameter");
  return *this;
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  next_param_ = 1;
}

Result<bool> Statement::step() {
  if (!bind_status_.ok()) return bind_status_.error();
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->error(kind_, "running \"" + sql_.substr(0, 60) + "\" on " + db_->path());
}

Status Statement::run() {
  VMI_TRY(bool row, step());
  (void)row;
  return {};
}

std::string Statement::text(int column) const {
  const unsigned char* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, column)));
}

int64_t Statement::integer(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

bool Statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

Result<Transaction> Transaction::begin(Db& db, ErrorKind kind) {
  VMI_CHECK(db.exec("BEGIN IMMEDIATE", kind));
  return Transaction(db, kind);
}

Result<Transaction> Transaction::begin_read(Db& db) {
  VMI_CHECK(db.exec("BEGIN DEFERRED", ErrorKind::kStoreRead));
  return Transaction(db, ErrorKind::kStoreRead);
}

Transaction::Transaction(Transaction&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), kind_(other.kind_) {}

Transaction::~Transaction() {
  // Uncommitted, or a COMMIT that failed (disk full) and left the transaction
  // open: roll back so nothing half-written is kept and the connection stays usable.
  if (db_ != nullptr && !sqlite3_get_autocommit(db_->handle())) {
    sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

Status Transaction::commit() {
  return db_->exec("COMMIT", kind_);
}

}  // namespace vmimage::store_detail
