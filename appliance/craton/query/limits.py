"""Every limit of the SQL layer, in one place, named with its unit last.

Owns: the numeric bounds that parser, binder and store enforce.
Must never: hold logic; a limit changes here and nowhere else.
"""

from __future__ import annotations

# Text of one statement, UTF-8 encoded. Large batches belong in several statements.
statement_bytes_max = 1_048_576
# Tokens in one statement: bounds the parser's work before it starts.
statement_tokens_max = 200_000
# Parentheses nesting in the text: checked on tokens, before the recursive parser sees it.
paren_depth_max = 32
# Depth of an expression tree after parsing (long AND/OR chains count one level per operator).
expression_depth_max = 256
# Characters in a table, column or alias name.
identifier_chars_max = 63
# Columns in one table.
table_columns_max = 256
# Rows in one INSERT.
insert_rows_max = 1_000
# `$n` parameters in one statement (SQLite allows 32766 variables per statement).
params_max = 10_000
# Items in one `IN (…)` list.
in_list_items_max = 1_000
# Entries in one select list.
select_items_max = 256
# JOIN clauses in one SELECT.
joins_max = 8
# Bytes of one TEXT or BYTES value (TEXT counted UTF-8 encoded).
value_bytes_max = 1_048_576
# Rows one query may return; a bigger answer is an error, never a silent truncation.
result_rows_max = 100_000
# SQLite virtual-machine steps one query may take; bounds joins and scans whose output is
# not returned (for example an aggregate over a large join).
query_vm_steps_max = 200_000_000
# How often (in VM steps) the store checks the step budget.
query_vm_steps_check_every = 10_000
# Parsed statements kept by SQL text, so repeated queries skip the parser.
parse_cache_entries_max = 1_024
# Compiled SELECT plans kept by the store.
plan_cache_entries_max = 1_024
