// @ovation/sdk: the browser SDK of Ovation. See README.md in this folder.

export { DEFAULT_DEPLOYMENT_ROOM, OvationClient, Room, newEventId } from "./client.js";
export type { ClientOptions, ClientEvents, PublishAck, RoomChange, RoomEvents, Status, WebSocketFactory, WebSocketLike } from "./client.js";
export { SSESocket, sseURL } from "./sse.js";
export type { EventSourceFactory, EventSourceLike } from "./sse.js";
export { RoomStream } from "./room.js";
export type { FrameResult, Position, StreamFrame, StreamSnapshot } from "./room.js";
export { applyDelta, cloneState, customBars, newRoomState, normalizeDelta, normalizeState, pollMean, CHAT_HISTORY, LEADERBOARD_SIZE, POLL_TEXT_WINDOW } from "./state.js";
export type { ChatLine, Custom, CustomDelta, Delta, Frame, HeldItem, LeaderEntry, ModDelta, Moderation, RoomControls, Sanction, Poll, PollDelta, PollKindState, PollText, Question, WordCount, QuestionDelta, Quiz, QuizDelta, RoomState, Snapshot, Totals } from "./state.js";
export { EVENT_TYPES, EventValidationError, LIMITS, POLL_KINDS, SCHEMA_VERSION, STOP_LANGUAGES, TIMER_USER, checkID, checkRoom, checkStream, isEmoji, modView, MOD_VIEW_SUFFIX, parseEvent, quizPoints, scaleRange, validateBody } from "./events.js";
export type { Controls, CustomInput, ModApproveData, ModRejectData, ModBanData, ModTimeoutData, ModUnbanData, Event, EventDataMap, EventType, PollKind, PollOpenData, PollPickData, PollRankData, PollRateData, PollTextData, PublishInput, RatingScale, Rule } from "./events.js";
export { ClosedError, PublishError, QueueFullError } from "./errors.js";
export { Backoff } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { decodeServer, encodeClient } from "./protocol.js";
export type { ClientMsg, ServerMsg, ServerFrame, ServerSnapshot, ServerWelcome } from "./protocol.js";
export { CLOSE } from "./protocol.js";
export { parseJSON, JSONSyntaxError } from "./json.js";
export type { JValue } from "./json.js";
