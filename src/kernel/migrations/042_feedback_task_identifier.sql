-- older builds: run beside
-- POST /fhir/Task keeps the municipality's own Task.identifier on the stored Task (feedback.task), beside jeugdbrug's
-- feedback id, and `If-None-Exist: identifier=[system|]value` finds the Task it sent before by containment
-- (`findOwnTasks`, src/event/event-store.ts). jsonb_path_ops answers `@>` on the identifier array.
CREATE INDEX IF NOT EXISTS feedback_task_identifier ON feedback USING gin ((task -> 'identifier') jsonb_path_ops);
