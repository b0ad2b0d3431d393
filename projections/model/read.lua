-- Queries of the projections model, resolved through the alias in one
-- atomic step. KEYS[1] alias; ARGV[1] root, ARGV[2] query, then its args.
-- Answers nil when the model has no live generation.
local gen = redis.call('GET', KEYS[1])
if not gen then return nil end
local ns = ARGV[1] .. gen .. ':'
local q = ARGV[2]
local ORDER = {'cust', 'st', 'total', 'cur', 'placedAt', 'method', 'reason', 'pst', 'pmethod', 'lines'}

local function page(key, after, limit)
  local from = '-'
  if after ~= '' then from = '(' .. after end
  return redis.call('ZRANGEBYLEX', key, from, '+', 'LIMIT', 0, limit)
end

if q == 'order' then
  local k = ns .. 'o:' .. ARGV[3]
  return {redis.call('HMGET', k, unpack(ORDER)), redis.call('ZRANGE', k .. ':tl', 0, -1)}
elseif q == 'product' then
  return redis.call('HMGET', ns .. 'p:' .. ARGV[3], 'sku', 'name', 'price', 'cur', 'avail')
elseif q == 'products' then
  local out = {}
  for _, sku in ipairs(page(ns .. 'products', ARGV[3], tonumber(ARGV[4]))) do
    out[#out + 1] = redis.call('HMGET', ns .. 'p:' .. sku, 'sku', 'name', 'price', 'cur', 'avail')
  end
  return out
elseif q == 'corders' then
  local key = ns .. 'c:' .. ARGV[3] .. ':o'
  if ARGV[4] ~= '' then key = key .. ':' .. ARGV[4] end
  local out = {}
  for _, m in ipairs(page(key, ARGV[5], tonumber(ARGV[6]))) do
    local oid = string.sub(m, 15)
    out[#out + 1] = {m, oid, redis.call('HMGET', ns .. 'o:' .. oid, unpack(ORDER))}
  end
  return out
elseif q == 'wallet' then
  local bal = redis.call('HGET', ns .. 'w:' .. ARGV[3], 'bal')
  if not bal then return {} end
  return {bal, page(ns .. 'w:' .. ARGV[3] .. ':tx', ARGV[4], tonumber(ARGV[5]))}
elseif q == 'stats' then
  local s = redis.call('HMGET', ns .. 's', 'revenue', 'confirmed', 'cancelled')
  local top = redis.call('ZREVRANGE', ns .. 's:rev', 0, tonumber(ARGV[3]) - 1, 'WITHSCORES')
  local out = {}
  for j = 1, #top, 2 do
    local sku = top[j]
    out[#out + 1] = {sku, top[j + 1], redis.call('HGET', ns .. 's:qty', sku) or '0',
      redis.call('HGET', ns .. 'p:' .. sku, 'name') or ''}
  end
  return {s, out}
end
return redis.error_reply('unknown query ' .. q)
