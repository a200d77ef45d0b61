-- Argo CD health check for gpulease.io GpuLease (argocd-cm key
-- resource.customizations.health.gpulease.io_GpuLease). Argo CD runs a check from argocd-cm without
-- Lua's standard libraries: only base and table functions here, no string.* or math.*.
-- Tested by test/unit/argocd-health.test.ts with gopher-lua, the interpreter Argo CD embeds.
local hs = {}

-- s when it is a non-empty string, else fallback.
local function text(s, fallback)
  if type(s) == "string" and s ~= "" then
    return s
  end
  return fallback
end

-- "reason: message", or whichever of the two there is, or fallback.
local function explain(reason, message, fallback)
  reason = text(reason, nil)
  message = text(message, nil)
  if reason ~= nil and message ~= nil then
    return reason .. ": " .. message
  end
  return message or reason or fallback
end

-- The condition of that type (a metav1.Condition list), or nil.
local function condition(conditions, kind)
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local status = obj.status
if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the gpulease operator"
  return hs
end
local phase = status.phase

if phase == "Pending" then
  -- Waiting for quota, capacity or a tenant: it is admitted as soon as that changes. Malformed: the
  -- operator cannot read the lease, and only a change to the lease helps.
  if status.reason == "Malformed" then
    hs.status = "Degraded"
  else
    hs.status = "Progressing"
  end
  hs.message = explain(status.reason, status.message, "Waiting for admission")
elseif phase == "Active" then
  hs.status = "Healthy"
  local notes = {}
  local ready = condition(status.conditions, "Ready")
  if ready ~= nil and ready.status == "False" then
    hs.status = "Degraded"
    table.insert(notes, explain(nil, ready.message, "Not ready: " .. text(ready.reason, "unknown reason")))
  end
  local atRisk = condition(status.conditions, "AtRisk")
  if atRisk ~= nil and atRisk.status == "True" then
    table.insert(notes, "At risk of reclaim: " .. text(atRisk.message, text(atRisk.reason, "reclaim likely")))
  end
  local expiring = condition(status.conditions, "ExpiringSoon")
  if expiring ~= nil and expiring.status == "True" then
    table.insert(notes, text(expiring.message, "The lease expires soon"))
  end
  if #notes == 0 then
    hs.message = text(status.message, "GPUs allocated")
  else
    hs.message = table.concat(notes, "; ")
  end
elseif phase == "Reclaiming" then
  -- The GPUs go back to internal use: pods on them are evicted at the deadline.
  hs.status = "Degraded"
  local message = text(status.message, text(status.reason, "The lease's GPUs are being reclaimed"))
  local deadline = nil
  if type(status.reclaim) == "table" then
    deadline = text(status.reclaim.deadline, nil)
  end
  if deadline ~= nil then
    message = "Reclaim deadline " .. deadline .. ": " .. message
  end
  hs.message = message
elseif phase == "Ended" then
  local endReason = text(status.endReason, nil)
  if endReason == "Rejected" then
    -- Never admissible under the tenant's quota: the lease in Git must change.
    hs.status = "Degraded"
    local reason = text(status.reason, "Rejected")
    if reason ~= "Rejected" then
      hs.message = explain("Rejected (" .. reason .. ")", status.message, nil)
    else
      hs.message = explain("Rejected", status.message, nil)
    end
  else
    -- Expired, Released or Reclaimed: over as designed, holding no GPUs and running nothing.
    hs.status = "Suspended"
    hs.message = explain(endReason or text(status.reason, nil), status.message, "Ended")
  end
else
  hs.status = "Unknown"
  hs.message = "Unknown phase " .. tostring(phase)
end
return hs
