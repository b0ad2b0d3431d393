-- The projections model body, run by readmodel.Applier once per new event
-- (see encode.go for the argument layout of each kind). Keys, under ns:
--   p:<sku>            hash  sku name price cur avail
--   products           zset  score 0, member sku (listed products, by SKU)
--   o:<id>             hash  cust cm total cur method lines lenc placedAt
--                            st (status) ix (status indexed) reason pst pmethod lc
--   o:<id>:tl          zset  score 0, member "<at ns>|<context>|<revision>|<type>"
--   c:<cust>:o[:<st>]  zset  score 0, member cm = "<inverted placed ms>|<id>"
--   w:<cust>           hash  bal
--   w:<cust>:tx        zset  score 0, member "<inverted revision>|<type>|<amount>|<balance>|<order>|<at ms>"
--   s                  hash  revenue confirmed cancelled
--   s:rev, s:qty       zset sku -> revenue, hash sku -> units (confirmed orders)
-- Every effect either commutes (increments, set members) or goes by
-- precedence, so the result does not depend on how streams interleave.
local RANK = {PENDING = 1, RESERVED = 2, CONFIRMED = 3, CANCELLED = 4}
local PRANK = {failed = 1, captured = 2, refunded = 3}

-- reindex puts an order in its customer's lists once it is placed, and
-- moves it to the list of its current status.
local function reindex(ns, oid)
  local k = ns .. 'o:' .. oid
  local f = redis.call('HMGET', k, 'cust', 'cm', 'st', 'ix')
  local cust, cm, st, ix = f[1], f[2], f[3], f[4]
  if (not cust) or (not cm) or (not st) or ix == st then return end
  local base = ns .. 'c:' .. cust .. ':o'
  if ix then redis.call('ZREM', base .. ':' .. ix, cm) end
  redis.call('ZADD', base, 0, cm)
  redis.call('ZADD', base .. ':' .. st, 0, cm)
  redis.call('HSET', k, 'ix', st)
end

-- countLines adds a confirmed order's lines to the product sales once
-- both the confirmation and the lines (from order_placed) are known.
local function countLines(ns, oid)
  local k = ns .. 'o:' .. oid
  local f = redis.call('HMGET', k, 'st', 'lenc', 'lc')
  if f[1] ~= 'CONFIRMED' or (not f[2]) or f[3] then return end
  for sku, q, p in string.gmatch(f[2], '([^ ;]+) (%d+) (%d+);') do
    redis.call('ZINCRBY', ns .. 's:rev', tonumber(q) * tonumber(p), sku)
    redis.call('HINCRBY', ns .. 's:qty', sku, q)
  end
  redis.call('HSET', k, 'lc', '1')
end

-- setStatus applies the precedence: CONFIRMED and CANCELLED are final,
-- otherwise a higher rank wins.
local function setStatus(ns, oid, st)
  local k = ns .. 'o:' .. oid
  local cur = redis.call('HGET', k, 'st')
  if cur and (RANK[cur] >= 3 or RANK[cur] >= RANK[st]) then return end
  redis.call('HSET', k, 'st', st)
  if st == 'CONFIRMED' then
    redis.call('HINCRBY', ns .. 's', 'revenue', redis.call('HGET', k, 'total') or '0')
    redis.call('HINCRBY', ns .. 's', 'confirmed', 1)
  elseif st == 'CANCELLED' then
    redis.call('HINCRBY', ns .. 's', 'cancelled', 1)
  end
  countLines(ns, oid)
  reindex(ns, oid)
end

local function setPayment(ns, oid, pst)
  local k = ns .. 'o:' .. oid
  local cur = redis.call('HGET', k, 'pst')
  if (not cur) or PRANK[cur] < PRANK[pst] then redis.call('HSET', k, 'pst', pst) end
end

local function timeline(ns, oid, tl)
  redis.call('ZADD', ns .. 'o:' .. oid .. ':tl', 0, tl)
end

local function stock(ns, a, i, n, sign)
  for j = i, i + 2 * n - 1, 2 do
    redis.call('HINCRBY', ns .. 'p:' .. a[j], 'avail', sign * tonumber(a[j + 1]))
  end
end

local function wallet(ns, cust, tx, bal)
  redis.call('HSET', ns .. 'w:' .. cust, 'bal', bal)
  redis.call('ZADD', ns .. 'w:' .. cust .. ':tx', 0, tx)
end

local function apply(ns, a, i, n)
  local kind = a[i]
  if kind == 'PL' then
    redis.call('HSET', ns .. 'p:' .. a[i + 1], 'sku', a[i + 1], 'name', a[i + 2], 'price', a[i + 3], 'cur', a[i + 4])
    redis.call('HINCRBY', ns .. 'p:' .. a[i + 1], 'avail', 0)
    redis.call('ZADD', ns .. 'products', 0, a[i + 1])
  elseif kind == 'PR' then
    redis.call('HSET', ns .. 'p:' .. a[i + 1], 'price', a[i + 2], 'cur', a[i + 3])
  elseif kind == 'SR' then
    redis.call('HINCRBY', ns .. 'p:' .. a[i + 1], 'avail', a[i + 2])
  elseif kind == 'FD' then
    wallet(ns, a[i + 1], a[i + 2], a[i + 3])
  else
    -- Events of an order: a[i+1] order id, a[i+2] timeline entry.
    local oid = a[i + 1]
    timeline(ns, oid, a[i + 2])
    if kind == 'SV' then
      stock(ns, a, i + 4, tonumber(a[i + 3]), -1)
      setStatus(ns, oid, 'RESERVED')
    elseif kind == 'SL' then
      stock(ns, a, i + 4, tonumber(a[i + 3]), 1)
    elseif kind == 'OP' then
      redis.call('HSET', ns .. 'o:' .. oid, 'cust', a[i + 3], 'cm', a[i + 4], 'total', a[i + 5], 'cur', a[i + 6],
        'method', a[i + 7], 'lines', a[i + 8], 'lenc', a[i + 9], 'placedAt', a[i + 10])
      setStatus(ns, oid, 'PENDING')
      reindex(ns, oid)
      countLines(ns, oid)
    elseif kind == 'OC' then
      redis.call('HSET', ns .. 'o:' .. oid, 'cust', a[i + 3], 'total', a[i + 4])
      setStatus(ns, oid, 'CONFIRMED')
    elseif kind == 'OX' then
      redis.call('HSET', ns .. 'o:' .. oid, 'cust', a[i + 3], 'reason', a[i + 4])
      setStatus(ns, oid, 'CANCELLED')
    elseif kind == 'PC' then
      setPayment(ns, oid, 'captured')
      redis.call('HSET', ns .. 'o:' .. oid, 'pmethod', a[i + 4])
    elseif kind == 'PF' then
      setPayment(ns, oid, 'failed')
    elseif kind == 'PX' then
      setPayment(ns, oid, 'refunded')
    elseif kind == 'WD' or kind == 'WC' then
      wallet(ns, a[i + 3], a[i + 4], a[i + 5])
    end
    -- SC (stock committed) and SF (reservation failed) only add to the timeline.
  end
end
