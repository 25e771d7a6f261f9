#include "store/rules.hpp"

#include <gtest/gtest.h>

#include "store/schema.hpp"
#include "store_test_support.hpp"

using namespace hindsight::store;

namespace {

rule_record rule(std::string name, std::string action = "capture") {
  rule_record r;
  r.name = std::move(name);
  r.path = "/ok/*";
  r.action = std::move(action);
  r.created_us = 1000;
  return r;
}

sqlite::database fresh(const hindsight::store::testing::temp_dir& dir) {
  sqlite::database db(dir.database(), sqlite::open_mode::create);
  prepare_for_writing(db);
  return db;
}

}  // namespace

TEST(RuleStore, insert_list_find_and_delete) {
  hindsight::store::testing::temp_dir dir;
  auto db = fresh(dir);
  auto r = rule("cap");
  r.max_hits = 3;
  r.expires_us = 5000;
  r.header = "X-Debug=re:^1";
  auto id = insert_rule(db, r);
  auto b = rule("dbg", "break");
  b.action_arg = "shop/views.py:42:x == 1";
  insert_rule(db, b);

  auto all = list_rules(db);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, id);
  EXPECT_EQ(all[0].name, "cap");
  EXPECT_EQ(all[0].header, "X-Debug=re:^1");
  EXPECT_EQ(all[0].max_hits, 3u);
  EXPECT_EQ(all[0].expires_us, 5000);
  EXPECT_TRUE(all[0].enabled);
  EXPECT_FALSE(all[1].max_hits);
  EXPECT_FALSE(all[1].expires_us);
  EXPECT_EQ(all[1].action_arg, "shop/views.py:42:x == 1");

  EXPECT_EQ(find_rule(db, "dbg")->id, all[1].id);
  EXPECT_EQ(find_rule(db, std::to_string(id))->name, "cap");
  EXPECT_FALSE(find_rule(db, "nope"));
  EXPECT_TRUE(delete_rule(db, id));
  EXPECT_FALSE(delete_rule(db, id));
  EXPECT_EQ(list_rules(db).size(), 1u);
}

TEST(RuleStore, a_taken_name_is_refused_naming_the_rule) {
  hindsight::store::testing::temp_dir dir;
  auto db = fresh(dir);
  insert_rule(db, rule("cap"));
  try {
    insert_rule(db, rule("cap"));
    FAIL() << "a second rule named cap was inserted";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("a rule named 'cap' exists already (id 1)"), std::string::npos) << e.what();
  }
  EXPECT_EQ(unused_rule_name(db, "capture"), "capture-1");
  insert_rule(db, rule("capture-1"));
  EXPECT_EQ(unused_rule_name(db, "capture"), "capture-2");
}

TEST(RuleStore, version_changes_with_rules_but_not_with_hits) {
  hindsight::store::testing::temp_dir dir;
  auto db = fresh(dir);
  auto v0 = rules_version(db);
  auto id = insert_rule(db, rule("cap"));
  auto v1 = rules_version(db);
  EXPECT_GT(v1, v0);
  add_rule_hits(db, {{id, 5}, {id + 100, 1}});  // a deleted rule's hits are skipped
  EXPECT_EQ(rules_version(db), v1);
  EXPECT_EQ(list_rules(db)[0].hits, 5u);
  add_rule_hits(db, {{id, 2}});
  EXPECT_EQ(list_rules(db)[0].hits, 7u);
  EXPECT_TRUE(set_rule_enabled(db, id, false));
  auto v2 = rules_version(db);
  EXPECT_GT(v2, v1);
  EXPECT_FALSE(list_rules(db)[0].enabled);
  delete_rule(db, id);
  EXPECT_GT(rules_version(db), v2);
}

TEST(RuleStore, migration_three_upgrades_a_version_two_file_keeping_its_captures) {
  hindsight::store::testing::temp_dir dir;
  {
    // A file as a build with schema 2 left it: the rules table and its counter absent
    // (and migration 4's columns of replays).
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    prepare_for_writing(db);
    db.exec(
        "DROP TRIGGER rules_inserted; DROP TRIGGER rules_deleted; DROP TRIGGER rules_changed; DROP TABLE rules; "
        "DELETE FROM counters WHERE name = 'rules_version'; INSERT INTO counters VALUES ('stored', 7); "
        "ALTER TABLE replays DROP COLUMN transcript; ALTER TABLE replays DROP COLUMN \"trigger\"; "
        "PRAGMA user_version = 2");
  }
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  EXPECT_EQ(schema_version(db), 2);
  prepare_for_writing(db);
  EXPECT_EQ(schema_version(db), known_schema_version());
  sqlite::statement stored(db, "SELECT value FROM counters WHERE name = 'stored'");
  ASSERT_TRUE(stored.step());
  EXPECT_EQ(stored.column_int64(0), 7);
  EXPECT_EQ(rules_version(db), 0);
  insert_rule(db, rule("cap"));
  EXPECT_EQ(rules_version(db), 1);
}

TEST(RuleStore, the_store_refuses_an_unknown_action) {
  hindsight::store::testing::temp_dir dir;
  auto db = fresh(dir);
  EXPECT_THROW(insert_rule(db, rule("x", "explode")), error);
}
