//
// asio_pal/detail/map_state.hpp
//
// Distributed under the Boost Software License, Version 1.0. (See accompanying
// file LICENSE_1_0.txt or copy at https://www.boost.org/LICENSE_1_0.txt)
//
// The engine of the map family, independent of the pool kind: a source of argument tuples cut
// into chunks, a function that submits one chunk and returns its future, and the consumer's
// position. Lazy maps keep at most buffer_size chunks submitted and not yet consumed.
//

#ifndef ASIO_PAL_DETAIL_MAP_STATE_HPP
#define ASIO_PAL_DETAIL_MAP_STATE_HPP

#include "asio_pal/detail/completion_queue.hpp"
#include "asio_pal/error.hpp"
#include "asio_pal/future.hpp"

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace asio_pal {

/// Options of the map family; always the last argument of a map call.
struct map_options
{
    /// Consecutive items per task; results come back per item.
    std::size_t chunk_size = 1;
    /// Lazy variants: at most this many chunks submitted and not yet consumed.
    std::size_t buffer_size = 1;
    /// Yield results in input order (true) or in completion order (false).
    bool keep_order = true;
    /// One deadline for the whole iteration, counted from its first step; expiry throws
    /// timeout_error (outstanding tasks go on until the result range is destroyed).
    std::optional<std::chrono::nanoseconds> timeout{};
};

namespace detail {

/// Throws std::invalid_argument naming a bad field.
inline void validate_map_options(const map_options& o)
{
    if (o.chunk_size == 0)
        throw std::invalid_argument("asio_pal: map_options.chunk_size must be at least 1");
    if (o.buffer_size == 0)
        throw std::invalid_argument("asio_pal: map_options.buffer_size must be at least 1");
    if (o.timeout && o.timeout->count() < 0)
        throw std::invalid_argument("asio_pal: map_options.timeout must not be negative");
}

/// What a map yields per item: R, or std::monostate for functions returning void.
template <typename R>
using item_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

/// The outcome of one chunk: the values of the items before the first failure, and it.
template <typename R>
struct chunk_result
{
    std::vector<item_t<R>> values;
    std::exception_ptr error;
};

/// Runs `f` over a chunk of argument tuples, stopping at the first exception.
template <typename R, typename F, typename Tuple>
chunk_result<R> run_chunk(F& f, std::vector<Tuple>& items)
{
    chunk_result<R> out;
    out.values.reserve(items.size());
    for (Tuple& t : items)
    {
        try
        {
            if constexpr (std::is_void_v<R>)
            {
                std::apply(f, std::move(t));
                out.values.emplace_back();
            }
            else
            {
                out.values.push_back(std::apply(f, std::move(t)));
            }
        }
        catch (...)
        {
            out.error = std::current_exception();
            break;
        }
    }
    return out;
}

/// Holds an input range for a map: a reference to an lvalue range, the range itself (moved
/// in) for an rvalue. (Not views::all: clang 14 rejects libstdc++ 12's owning_view.)
template <typename Range>
class stored_range
{
public:
    /// The range as iterated: const stays const for lvalues.
    using range_type = std::conditional_t<std::is_lvalue_reference_v<Range>,
                                          std::remove_reference_t<Range>, std::remove_cvref_t<Range>>;
    using iterator = std::ranges::iterator_t<range_type&>;

    template <typename R>
    explicit stored_range(R&& r) : r_(std::forward<R>(r))
    {
    }

    range_type& get() noexcept { return r_; }

private:
    std::conditional_t<std::is_lvalue_reference_v<Range>, range_type&, range_type> r_;
};

/// Zips input ranges (shortest wins) into tuples of values, a chunk at a time.
template <typename... Ranges>
class zip_source
{
public:
    using tuple_type = std::tuple<std::ranges::range_value_t<std::remove_cvref_t<Ranges>>...>;
    static_assert((std::ranges::input_range<std::remove_cvref_t<Ranges>> && ...),
                  "asio_pal: map takes input ranges, with map_options last");

    template <typename... Rs>
    explicit zip_source(Rs&&... rs) : ranges_(std::forward<Rs>(rs)...)
    {
    }

    zip_source(zip_source&&) = default;

    /// Appends up to `n` tuples; false once the input is exhausted.
    bool next_chunk(std::vector<tuple_type>& out, std::size_t n)
    {
        if (!its_)
            its_.emplace(begins(std::index_sequence_for<Ranges...>{}));
        while (out.size() < n)
        {
            if (at_end(std::index_sequence_for<Ranges...>{}))
                return false;
            emplace_and_advance(out, std::index_sequence_for<Ranges...>{});
        }
        return true;
    }

private:
    using iterators = std::tuple<typename stored_range<Ranges>::iterator...>;

    template <std::size_t... I>
    iterators begins(std::index_sequence<I...>)
    {
        return iterators(std::ranges::begin(std::get<I>(ranges_).get())...);
    }

    template <std::size_t... I>
    bool at_end(std::index_sequence<I...>)
    {
        return ((std::get<I>(*its_) == std::ranges::end(std::get<I>(ranges_).get())) || ...);
    }

    template <std::size_t... I>
    void emplace_and_advance(std::vector<tuple_type>& out, std::index_sequence<I...>)
    {
        out.emplace_back(*std::get<I>(*its_)...);
        (++std::get<I>(*its_), ...);
    }

    std::tuple<stored_range<Ranges>...> ranges_;
    std::optional<iterators> its_;
};

/// A range of tuples (starmap), a chunk at a time.
template <typename Range>
class tuple_source
{
public:
    using tuple_type = std::ranges::range_value_t<std::remove_cvref_t<Range>>;

    template <typename R>
    explicit tuple_source(R&& r) : range_(std::forward<R>(r))
    {
    }

    tuple_source(tuple_source&&) = default;

    bool next_chunk(std::vector<tuple_type>& out, std::size_t n)
    {
        if (!it_)
            it_.emplace(std::ranges::begin(range_.get()));
        while (out.size() < n)
        {
            if (*it_ == std::ranges::end(range_.get()))
                return false;
            out.emplace_back(**it_);
            ++*it_;
        }
        return true;
    }

private:
    stored_range<Range> range_;
    std::optional<typename stored_range<Range>::iterator> it_;
};

/// The consumer side of a map: buffering, ordering, deadline, current item.
template <typename R>
class map_state
{
public:
    using item_type = item_t<R>;
    using chunk_future = future<chunk_result<R>>;
    using wait_target = std::variant<std::monostate, chunk_future, future<void>>;

    enum class step
    {
        ready, ///< current() is the next item
        end,   ///< no more items
        wait,  ///< wait for the target, then settle() again
    };

    map_state(const map_options& o, bool lazy) : options_(o), lazy_(lazy)
    {
        validate_map_options(o);
        if (!o.keep_order)
            done_ = std::make_shared<completion_queue<chunk_future>>();
    }

    map_state(const map_state&) = delete;
    map_state& operator=(const map_state&) = delete;

    /// Abandoning the iteration withdraws every chunk that has not started.
    virtual ~map_state() { cancel_outstanding(); }

    /// Submits every chunk at once (map_all); lazy maps submit on their first step.
    void submit_all()
    {
        start();
    }

    /// Moves past the current item (or to the first one); then settle() until ready or end.
    void request_next()
    {
        if (!started_)
            start();
        else if (has_current())
            ++pos_;
    }

    /// Positions on the next item without blocking, or names what to wait for.
    step settle(wait_target& target)
    {
        for (;;)
        {
            if (has_current())
                return step::ready;
            if (chunk_.error)
            {
                finished_ = true;
                cancel_outstanding();
                std::exception_ptr e = std::exchange(chunk_.error, nullptr);
                std::rethrow_exception(e);
            }
            if (finished_)
                return step::end;
            if (done_)
            {
                if (std::optional<chunk_future> f = done_->try_pop())
                {
                    --outstanding_;
                    unordered_.erase(f->task_id());
                    take(*f);
                    continue;
                }
            }
            else if (!in_flight_.empty())
            {
                if (!in_flight_.front().is_done())
                {
                    target = in_flight_.front();
                    return step::wait;
                }
                chunk_future f = std::move(in_flight_.front());
                in_flight_.pop_front();
                --outstanding_;
                take(f);
                continue;
            }
            if (outstanding_ == 0)
            {
                fill();
                if (outstanding_ == 0)
                {
                    finished_ = true;
                    if (refused_) // every item submitted before it was yielded: it comes now
                        std::rethrow_exception(std::exchange(refused_, nullptr));
                    return step::end;
                }
                continue;
            }
            target = done_->next_event();
            return step::wait;
        }
    }

    /// Blocking step: request_next() then wait until positioned; throws timeout_error.
    void advance()
    {
        request_next();
        wait_target target;
        while (settle(target) == step::wait)
        {
            if (std::holds_alternative<future<void>>(target) && help_one())
                continue;
            bool done = std::visit(
                [this](auto& f) {
                    if constexpr (std::is_same_v<std::decay_t<decltype(f)>, std::monostate>)
                        return true;
                    else
                        return future_access::state(f).wait_until(deadline_);
                },
                target);
            if (!done)
                throw timeout_error("asio_pal: map iteration ran past its timeout");
        }
    }

    bool has_current() const noexcept { return pos_ < chunk_.values.size(); }
    bool at_end() const noexcept { return finished_ && !has_current() && !chunk_.error; }
    /// The current item: item_type&, or std::vector<bool>'s proxy for maps of bool.
    typename std::vector<item_type>::reference current() noexcept { return chunk_.values[pos_]; }
    bool expired() const { return deadline_ && std::chrono::steady_clock::now() >= *deadline_; }

protected:
    /// Submits the next chunk of the input; empty once the input is exhausted. The submitter
    /// calls listen() with the chunk's future before the chunk can start.
    virtual std::optional<chunk_future> submit_next() = 0;

    /**
     * Without keep_order, puts the chunk in the completion queue when it completes. Called by
     * the pool's submitter between creating the chunk's state and queueing it: registered any
     * later, a chunk that completed first would be queued behind one that completed after it
     * (its listener firing only at registration), and the map would not yield in completion
     * order.
     */
    void listen(const chunk_future& f)
    {
        if (!done_)
            return;
        unordered_.emplace(f.task_id(), f);
        std::uint64_t id = 0;
        try
        {
            id = f.add_callback([q = done_](const chunk_future& d) { q->push(d); });
        }
        catch (...)
        {
            unordered_.erase(f.task_id());
            throw;
        }
        listening_.emplace(f, id);
    }

    std::size_t chunk_size() const noexcept { return options_.chunk_size; }

private:
    void start()
    {
        if (started_)
            return;
        started_ = true;
        if (options_.timeout)
            deadline_ = deadline_after(*options_.timeout);
        fill();
    }

    // The pool refused the chunk listen() registered: it will never complete, so its listener
    // (which holds the completion queue) is removed and freed.
    void forget_listening() noexcept
    {
        if (!listening_)
            return;
        listening_->first.remove_callback(listening_->second);
        unordered_.erase(listening_->first.task_id());
        listening_.reset();
    }

    void fill()
    {
        const std::size_t limit = lazy_ ? options_.buffer_size : static_cast<std::size_t>(-1);
        while (!input_done_ && outstanding_ < limit)
        {
            std::optional<chunk_future> f;
            try
            {
                f = submit_next();
            }
            catch (...)
            {
                forget_listening();
                // Refused (a pool shut down mid-iteration): the items of the chunks already
                // submitted come first, then the refusal, at the position of its chunk.
                if (outstanding_ == 0 && !has_current())
                    throw;
                refused_ = std::current_exception();
                input_done_ = true;
                break;
            }
            if (!f)
            {
                input_done_ = true;
                break;
            }
            ++outstanding_;
            listening_.reset(); // listen() registered it before it could start
            if (!done_)
                in_flight_.push_back(std::move(*f));
        }
        if (input_done_ && outstanding_ == 0 && !has_current() && !refused_)
            finished_ = true;
    }

    // Makes `f`'s chunk current, then tops the buffer up again.
    void take(const chunk_future& f)
    {
        result_state<chunk_result<R>>& s = future_access::state(f);
        pos_ = 0;
        if (s.status() == task_status::completed)
        {
            chunk_ = std::move(s.value());
        }
        else
        {
            chunk_.values.clear();
            chunk_.error = f.exception(); // the chunk task itself failed or was cancelled
        }
        fill();
    }

    // Unordered maps wait on an event, not on a task: on a worker of the map's pool, run one
    // of its pending chunks instead (as waiting on a task would).
    bool help_one() noexcept
    {
        for (auto& [id, f] : unordered_)
            if (future_access::state(f).help())
                return true;
        return false;
    }

    void cancel_outstanding() noexcept
    {
        for (chunk_future& f : in_flight_)
            f.cancel();
        in_flight_.clear();
        for (auto& [id, f] : unordered_)
            f.cancel();
        unordered_.clear();
        input_done_ = true;
    }

    map_options options_;
    bool lazy_;
    bool started_ = false;
    bool input_done_ = false;
    bool finished_ = false;
    std::optional<std::chrono::steady_clock::time_point> deadline_;
    std::size_t outstanding_ = 0; // submitted and not yet consumed
    std::exception_ptr refused_;  // a chunk's submission failed after others were submitted
    std::deque<chunk_future> in_flight_;                    // keep_order: submission order
    std::shared_ptr<completion_queue<chunk_future>> done_; // !keep_order: completion order
    std::unordered_map<task_id_t, chunk_future> unordered_; // !keep_order: for cancellation
    std::optional<std::pair<chunk_future, std::uint64_t>> listening_; // listen()'s, until queued
    chunk_result<R> chunk_;
    std::size_t pos_ = 0;
};

/// A map over `Source`, submitting chunks through `Submit`.
template <typename R, typename Source, typename Submit>
class source_map_state final : public map_state<R>
{
public:
    source_map_state(const map_options& o, bool lazy, Source&& src, Submit&& submit)
        : map_state<R>(o, lazy), source_(std::move(src)), submit_(std::move(submit))
    {
    }

private:
    std::optional<typename map_state<R>::chunk_future> submit_next() override
    {
        if (exhausted_)
            return std::nullopt;
        std::vector<typename Source::tuple_type> items;
        items.reserve(this->chunk_size());
        exhausted_ = !source_.next_chunk(items, this->chunk_size());
        if (items.empty())
            return std::nullopt;
        return submit_(std::move(items), [this](const typename map_state<R>::chunk_future& f) {
            this->listen(f);
        });
    }

    Source source_;
    Submit submit_;
    bool exhausted_ = false;
};

} // namespace detail
} // namespace asio_pal

#endif // ASIO_PAL_DETAIL_MAP_STATE_HPP
