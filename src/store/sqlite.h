// A thin RAII layer over the SQLite C API: a connection, prepared statements
// and IMMEDIATE write transactions, with errors that name the statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "vmimage/result.h"

namespace vmimage::store_detail {

class Db {
 public:
  Db() = default;
  Db(Db&& other) noexcept;
  Db& operator=(Db&& other) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Opens (creating when read_only is false) the database at path.
  static Result<Db> open(const std::string& path, bool read_only);
  // Opens read-only without locks or a WAL index: only for a database on a
  // read-only filesystem, which nobody can change while we read it.
  static Result<Db> open_immutable(const std::string& path);

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  // Runs one or more statements without results.
  Status exec(std::string_view sql, ErrorKind kind);
  // An Error of `kind` from the connection's last failure: "<what>: <sqlite message>".
  Error error(ErrorKind kind, std::string_view what) const;
  int64_t changes() const { return sqlite3_changes64(db_); }
  int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  static Result<Statement> prepare(const Db& db, std::string_view sql, ErrorKind kind);

  // Binds parameters 1..n in order; chainable.
  Statement& bind(std::string_view text);
  Statement& bind(int64_t value);

  // Makes the statement ready to run again with new parameters.
  void reset();

  // Advances: true when a row is available, false when done.
  Result<bool> step();
  // Steps a statement that returns no rows.
  Status run();

  std::string text(int column) const;
  int64_t integer(int column) const;
  bool is_null(int column) const;

 private:
  Statement(const Db& db, sqlite3_stmt* stmt, ErrorKind kind, std::string_view sql);

  const Db* db_;
  sqlite3_stmt* stmt_;
  ErrorKind kind_;
  std::string sql_;
  int next_param_ = 1;
  Status bind_status_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted. IMMEDIATE
// takes the write lock up front, so the busy timeout applies and concurrent
// writers never deadlock on a read-to-write upgrade.
class Transaction {
 public:
  static Result<Transaction> begin(Db& db, ErrorKind kind);
  // A read transaction: one consistent snapshot for several SELECTs (ended by destruction).
  static Result<Transaction> begin_read(Db& db);
  Transaction(Transaction&& other) noexcept;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  Status commit();

 private:
  Transaction(Db& db, ErrorKind kind) : db_(&db), kind_(kind) {}
  Db* db_;
  ErrorKind kind_;
};

}  // namespace vmimage::store_detail
