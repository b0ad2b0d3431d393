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

-- settle brings an order's derived keys up to date with its hash, with
-- one read: once placed, it is in its customer's lists under its current
-- status; once confirmed with known lines (from order_placed, which may
-- arrive after the confirmation), its lines count in the product sales.
local function settle(ns, oid)
  local k = ns .. 'o:' .. oid
  local f = redis.call('HMGET', k, 'cust', 'cm', 'st', 'ix', 'lenc', 'lc')
  local cust, cm, st, ix, lenc, lc = f[1], f[2], f[3], f[4], f[5], f[6]
  if cust and cm and st and ix ~= st then
    local base = ns .. 'c:' .. cust .. ':o'
    if ix then
      redis.call('ZREM', base .. ':' .. ix, cm)
    else
      redis.call('ZADD', base, 0, cm)
    end
    redis.call('ZADD', base .. ':' .. st, 0, cm)
    redis.call('HSET', k, 'ix', st)
  end
  if st == 'CONFIRMED' and lenc and not lc then
    for sku, q, p in string.gmatch(lenc, '([^ ;]+) (%d+) (%d+);') do
      redis.call('ZINCRBY', ns .. 's:rev', tonumber(q) * tonumber(p), sku)
      redis.call('HINCRBY', ns .. 's:qty', sku, q)
    end
    redis.call('HSET', k, 'lc', '1')
  end
end

-- setStatus applies the precedence (CONFIRMED and CANCELLED are final,
-- otherwise a higher rank wins) and settles the order when it changed.
local function setStatus(ns, oid, st)
  local k = ns .. 'o:' .. oid
  local cur = redis.call('HGET', k, 'st')
  if cur and (RANK[cur] >= 3 or RANK[cur] >= RANK[st]) then return false end
  redis.call('HSET', k, 'st', st)
  if st == 'CONFIRMED' then
    redis.call('HINCRBY', ns .. 's', 'revenue', redis.call('HGET', k, 'total') or '0')
    redis.call('HINCRBY', ns .. 's', 'confirmed', 1)
  elseif st == 'CANCELLED' then
    redis.call('HINCRBY', ns .. 's', 'cancelled', 1)
  end
  settle(ns, oid)
  return true
end

local function setPayment(ns, oid, pst, method)
  local k = ns .. 'o:' .. oid
  local cur = redis.call('HGET', k, 'pst')
  if (not cur) or PRANK[cur] < PRANK[pst] then redis.call('HSET', k, 'pst', pst) end
  if method then redis.call('HSET', k, 'pmethod', method) end
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
      if not setStatus(ns, oid, 'PENDING') then settle(ns, oid) end
    elseif kind == 'OC' then
      redis.call('HSET', ns .. 'o:' .. oid, 'cust', a[i + 3], 'total', a[i + 4])
      setStatus(ns, oid, 'CONFIRMED')
    elseif kind == 'OX' then
      redis.call('HSET', ns .. 'o:' .. oid, 'cust', a[i + 3], 'reason', a[i + 4])
      setStatus(ns, oid, 'CANCELLED')
    elseif kind == 'PC' then
      setPayment(ns, oid, 'captured', a[i + 4])
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
