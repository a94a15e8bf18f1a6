-- Prepended to every script by live/scripts.py.
-- emit: give a durable event the room's next seq and append it to the room's stream.
-- body is the event's JSON object without "seq" (encoded by the server with orjson).
local function emit(meta, events, maxlen, body)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  local ev = '{"seq":' .. seq .. ',' .. string.sub(body, 2)
  local t = redis.call('TIME')
  -- "ms" is Redis's clock at the append: the hubs measure their fan-out lag from it.
  redis.call('XADD', events, 'MAXLEN', '~', maxlen, seq .. '-0', 'e', ev, 'ms', t[1] * 1000 + math.floor(t[2] / 1000))
  return seq, ev
end

local function fail(code, message, retry_after_ms)
  return {'err', code, message, retry_after_ms or -1}
end

-- The sale's state at now from its stored state and window: time drives upcoming -> live -> ended
-- before anyone records it (buy.lua reads the fields itself, in one HMGET with the others it needs).
local function sale_state(stored, starts_at, ends_at, now)
  if stored == 'ended' or now >= ends_at then return 'ended' end
  if stored == 'sold_out' then return 'sold_out' end
  if now < starts_at then return 'upcoming' end
  return 'live'
end

-- The state of the current pin at now (nil without a pin).
local function pin_state(pin, now)
  local f = redis.call('HMGET', pin, 'state', 'starts_at_ms', 'ends_at_ms')
  if not f[1] then return nil end
  return sale_state(f[1], tonumber(f[2]), tonumber(f[3]), now)
end

local function split_numbers(csv)
  local out = {}
  for n in string.gmatch(csv, '[^,]+') do out[#out + 1] = tonumber(n) end
  return out
end

-- The pin as the "pin" event and hello carry it.
local function pin_json(pin, state)
  local f = redis.call('HGETALL', pin)
  local h = {}
  for i = 1, #f, 2 do h[f[i]] = f[i + 1] end
  return '{"id":"' .. h.id .. '","product":' .. h.product .. ',"state":"' .. state ..
    '","stock_total":' .. h.stock_total .. ',"stock_left":' .. h.stock_left ..
    ',"limit_per_user":' .. h.limit_per_user .. ',"starts_at_ms":' .. h.starts_at_ms ..
    ',"ends_at_ms":' .. h.ends_at_ms .. ',"tiers":' .. h.tiers .. ',"count":' .. h.count ..
    ',"count_mode":"' .. h.count_mode .. '","tier":' .. h.tier .. ',"price_cents":' .. h.price_cents ..
    ',"price_protection":' .. h.price_protection .. '}'
end

-- End the current pin: freeze it, owe refunds under price protection, archive it, emit pin_end.
-- Returns the pin_end seq, or 0 when there is no pin or it had already ended.
local function end_pin(meta, events, maxlen, pin, pin_orders, orders, refunds, pins, now)
  local id = redis.call('HGET', pin, 'id')
  if not id or redis.call('HGET', pin, 'state') == 'ended' then return 0 end
  local final = tonumber(redis.call('HGET', pin, 'price_cents'))
  if redis.call('HGET', pin, 'price_protection') == 'true' then
    for _, oid in ipairs(redis.call('LRANGE', pin_orders, 0, -1)) do
      local o = redis.call('HGET', orders, oid)
      local unit = tonumber(string.match(o, '"unit_price_cents":(%d+)'))
      local qty = tonumber(string.match(o, '"qty":(%d+)'))
      if unit > final then
        local refund = (unit - final) * qty
        redis.call('HSET', refunds, oid, refund)
        redis.call('HINCRBY', meta, 'refund_cents', refund)
      end
    end
  end
  local sold = tonumber(redis.call('HGET', pin, 'stock_total')) - tonumber(redis.call('HGET', pin, 'stock_left'))
  redis.call('HSET', pin, 'state', 'ended', 'ended_at_ms', now)
  redis.call('HSET', pins, id, pin_json(pin, 'ended'))
  local seq = emit(meta, events, maxlen,
    '{"t":"pin_end","pin":"' .. id .. '","sold":' .. sold .. ',"final_price_cents":' .. final .. '}')
  return seq
end
