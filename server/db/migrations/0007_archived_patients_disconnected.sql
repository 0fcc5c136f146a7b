-- Archiving now revokes the patient's devices and withdraws their unused invite codes. Patients
-- archived before that still had them: on a restore, their old phones and codes would work again.
-- Their devices count as revoked when the patient was archived.
UPDATE patient_device
SET revoked_at = (SELECT archived_at FROM patient WHERE patient.id = patient_device.patient_id)
WHERE revoked_at IS NULL
  AND patient_id IN (SELECT id FROM patient WHERE archived_at IS NOT NULL);

DELETE FROM patient_invite
WHERE used_at IS NULL
  AND patient_id IN (SELECT id FROM patient WHERE archived_at IS NOT NULL);
